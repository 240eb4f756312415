"""prepare_vtab: VTAB-1k's split arithmetic and label functions against hand
computations, every task written from generated stand-ins of its TFDS
features, TFDS's own mock data through the real reader, and bad input."""
import os
import os.path as osp
from collections import namedtuple

import numpy as np
import pytest
from PIL import Image

from mmprompt.datasets import VTAB1kDataset
from mmprompt.datasets import prepare_vtab as pv
from mmprompt.datasets.check_vtab import check_task
from mmprompt.datasets.vtab1k import VTAB1K_TASKS


@pytest.mark.parametrize(
    'task, counts, expected',
    [
        # 90 % of CIFAR-100's 50,000: val200 at 45,000
        ('cifar100', dict(train=50000, test=10000),
         dict(
             train800=('train', 0, 800),
             val200=('train', 45000, 45200),
             test=('test', 0, 10000))),
        # 90 * 3,060 // 100 = 2,754
        ('caltech101', dict(train=3060,
                            test=6084), dict(val200=('train', 2754, 2954))),
        # 80 * 3,680 // 100 = 2,944
        ('oxford_iiit_pet', dict(
            train=3680, test=3669), dict(val200=('train', 2944, 3144))),
        ('svhn', dict(train=73257,
                      test=26032), dict(val200=('train', 65931, 66131))),
        # CLEVR's test is TFDS's validation
        ('clevr_count', dict(train=70000, validation=15000, test=15000),
         dict(val200=('train', 63000, 63200), test=('validation', 0, 15000))),
        # dSprites: 80 % train, 10 % val, the rest test
        ('dsprites_ori', dict(train=737280),
         dict(
             val200=('train', 589824, 590024),
             test=('train', 589824 + 73728, 737280))),
        # EuroSAT: 60 / 20 / 20 of its one split
        ('eurosat', dict(train=27000),
         dict(val200=('train', 16200, 16400), test=('train', 21600, 27000))),
        ('resisc45', dict(train=31500),
         dict(val200=('train', 18900, 19100), test=('train', 25200, 31500))),
        # sNORB: val200 and test both from TFDS's test split
        ('smallnorb_azi', dict(train=24300, test=24300),
         dict(
             train800=('train', 0, 800),
             val200=('test', 0, 200),
             test=('test', 12150, 24300))),
        ('kitti', dict(train=6347, validation=423, test=711),
         dict(val200=('validation', 0, 200), test=('test', 0, 711))),
    ])
def test_splits_are_vtabs_arithmetic(task, counts, expected):
    splits = pv.resolve_splits(task, counts)
    for split, want in expected.items():
        assert splits[split] == want


def test_derived_labels_are_vtabs():

    def ex(**kw):
        return kw

    assert pv.clevr_count(ex(objects=dict(size=np.zeros(5)))) == 2
    # closest depth 9.2: thresholds 0, 8, 8.5, 9 lie below it
    coords = np.array([[0, 0, 12.0], [0, 0, 9.2]])
    assert pv.clevr_distance(ex(objects=dict(pixel_coords=coords))) == 3
    # a pedestrian (type 3) at 5 m does not count; the car at 15 m does
    kitti = dict(
        type=np.array([3, 0]), location=np.array([[0, 0, 5.], [0, 0, 15.]]))
    assert pv.kitti_distance(ex(objects=kitti)) == 1
    kitti['type'] = np.array([0, 0])
    assert pv.kitti_distance(ex(objects=kitti)) == 0
    kitti['type'] = np.array([4, 5])  # no vehicle: the fourth class
    assert pv.kitti_distance(ex(objects=kitti)) == 3
    ori = pv.TASKS['dsprites_ori'].label  # 40 values in 16 bins of 2.5
    assert [ori(ex(label_orientation=v)) for v in (0, 2, 3, 5, 39)] == \
        [0, 0, 1, 2, 15]
    loc = pv.TASKS['dsprites_loc'].label  # 32 in 16: pairs
    assert [loc(ex(label_x_position=v)) for v in (0, 1, 2, 31)] == \
        [0, 0, 1, 15]
    assert pv.TASKS['smallnorb_ele'].label(ex(label_elevation=8)) == 8


Counts = namedtuple('Counts', 'train validation test')
COUNTS = Counts(2000, 300, 500)


class StandIn:
    """A TFDS split of ``task`` with its features: example ``i`` is drawn
    from ``i`` alone, and RGB images carry ``i`` in their first pixel."""

    def __init__(self, task, split, n):
        self.task, self.split, self.n = task, split, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        rng = np.random.default_rng([i, len(self.split)])
        task = self.task
        if task.startswith('dsprites'):
            return dict(
                image=rng.integers(0, 2, (8, 8, 1), dtype=np.uint8),
                label_x_position=int(rng.integers(32)),
                label_orientation=int(rng.integers(40)))
        if task.startswith('smallnorb'):
            return dict(
                image=rng.integers(0, 256, (8, 8, 1), dtype=np.uint8),
                label_azimuth=int(rng.integers(18)),
                label_elevation=int(rng.integers(9)))
        img = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
        img[0, 0] = (i // 256, i % 256, 7)
        if task.startswith('clevr'):
            n = int(rng.integers(3, 11))
            return dict(
                image=img,
                objects=dict(
                    size=np.zeros(n), pixel_coords=rng.uniform(7, 11, (n, 3))))
        if task == 'kitti':
            n = int(rng.integers(0, 4))
            return dict(
                image=img,
                objects=dict(
                    type=rng.integers(0, 8, n),
                    location=rng.uniform(0, 30, (n, 3))))
        return dict(image=img, label=int(rng.integers(VTAB1K_TASKS[task])))


def stand_ins(task):
    return {s: StandIn(task, s, n) for s, n in COUNTS._asdict().items()}


def read_list(task_dir, split):
    with open(osp.join(task_dir, f'{split}.txt')) as f:
        return [line.split() for line in f]


@pytest.mark.parametrize('task', list(pv.TASKS))
def test_every_task_is_written_as_vtab1k(task, tmp_path):
    sources = stand_ins(task)
    task_dir = pv.prepare_task(task, str(tmp_path), sources, '1.0.0')
    problems, sizes = check_task(str(tmp_path), task)
    assert problems == []
    splits = pv.resolve_splits(task, {s: len(v) for s, v in sources.items()})
    name, start, end = splits['test']
    assert sizes == dict(
        train800=800, val200=200, train800val200=1000, test=end - start)
    for split in ('train800', 'val200', 'test'):
        name, start, end = splits[split]
        lines = read_list(task_dir, split)
        for i in (0, len(lines) - 1):  # the slice's ends, pixel for pixel
            ex = sources[name][start + i]
            rel, label = lines[i]
            stored = np.asarray(Image.open(osp.join(task_dir, rel)))
            assert np.array_equal(stored, pv.example_image(task, ex))
            assert int(label) == pv.TASKS[task].label(ex)
        labels = [int(label) for _, label in lines]
        assert 0 <= min(labels) and max(labels) < VTAB1K_TASKS[task]
    if task.startswith('dsprites'):  # 0/1 shapes scaled to 0/255
        rel = read_list(task_dir, 'train800')[0][0]
        assert set(np.unique(Image.open(osp.join(task_dir, rel)))) <= {0, 255}
    ds = VTAB1kDataset(str(tmp_path), task, split='train800val200')
    assert len(ds) == 1000


def test_output_is_deterministic_and_a_finished_task_is_kept(tmp_path):
    for out in ('a', 'b'):
        pv.prepare_task('clevr_dist', str(tmp_path / out),
                        stand_ins('clevr_dist'), '3.1.0')
    files = sorted(
        osp.relpath(osp.join(d, f), tmp_path / 'a')
        for d, _, fs in os.walk(tmp_path / 'a') for f in fs)
    assert len(files) == 1000 + 300 + 4 + 1
    for rel in files:
        with open(tmp_path / 'a' / rel, 'rb') as fa, \
                open(tmp_path / 'b' / rel, 'rb') as fb:
            assert fa.read() == fb.read(), rel
    manifest = pv.read_manifest(str(tmp_path / 'a' / 'clevr_dist'))
    assert manifest['splits'] == dict(
        train800='train[0:800]',
        val200='train[1800:2000]',
        test='validation[0:300]')
    # run again: the finished task is left as it is
    listing = tmp_path / 'a' / 'clevr_dist' / 'train800.txt'
    mtime = listing.stat().st_mtime_ns
    pv.prepare_task('clevr_dist', str(tmp_path / 'a'), stand_ins('clevr_dist'),
                    '3.1.0')
    assert listing.stat().st_mtime_ns == mtime


def test_bad_output_folders_and_sources(tmp_path, monkeypatch):
    out = str(tmp_path)
    with pytest.raises(ValueError, match="no task 'cifar'.*cifar100"):
        pv.check_tasks(['cifar'])
    with pytest.raises(SystemExit):
        pv.main([out, '--tasks', 'cifar'])
    # a folder holding another task's files
    pv.prepare_task('dtd', out, stand_ins('dtd'), '3.0.1')
    os.rename(tmp_path / 'dtd', tmp_path / 'eurosat')
    with pytest.raises(
            FileExistsError, match="eurosat: .* of task 'dtd'.*move it away"):
        pv.prepare_task('eurosat', out, stand_ins('eurosat'), '2.0.0')
    (tmp_path / 'svhn').mkdir()
    with pytest.raises(FileExistsError, match='svhn: .*no vtab_source.json'):
        pv.prepare_task('svhn', out, stand_ins('svhn'), '3.1.0')
    # a source too small for VTAB's slice
    small = dict(
        stand_ins('caltech101'), train=StandIn('caltech101', 'x', 1000))
    with pytest.raises(
            ValueError,
            match=r'caltech101: val200 needs '
            r'train\[900:1100\] .* 1000 examples'):
        pv.prepare_task('caltech101', out, small, '3.0.2')
    # a label outside the classes stops the task; nothing looks complete
    bad = stand_ins('dmlab')
    bad['train'] = StandIn('cifar100', 'train', 2000)  # labels up to 99
    with pytest.raises(ValueError, match=r'dmlab: train\[\d+\] has label'):
        pv.prepare_task('dmlab', out, bad, '2.0.1')
    assert not (tmp_path / 'dmlab').exists()
    assert (tmp_path / '.dmlab.partial').exists()
    pv.prepare_task('dmlab', out, stand_ins('dmlab'), '2.0.1')  # over again
    assert check_task(out, 'dmlab')[0] == []
    assert not (tmp_path / '.dmlab.partial').exists()
    # too little disk
    Usage = namedtuple('Usage', 'total used free')
    monkeypatch.setattr(pv.shutil, 'disk_usage',
                        lambda path: Usage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(OSError, match=r'kitti: needs about .* GiB'):
        pv.prepare_task('kitti', out, stand_ins('kitti'), '3.1.0')
    assert not (tmp_path / 'kitti').exists()


def test_tfds_mock_data_through_the_real_reader(tmp_path):
    tfds = pytest.importorskip('tensorflow_datasets')
    source = pv.TFDSSource(data_dir=str(tmp_path / 'tfds'))
    with tfds.testing.mock_data(num_examples=1000):
        sources, version = source.open('eurosat')
        task_dir = pv.prepare_task('eurosat', str(tmp_path / 'out'), sources,
                                   version)
    assert version == '2.0.0'
    problems, sizes = check_task(str(tmp_path / 'out'), 'eurosat')
    assert problems == [] and sizes['test'] == 200  # 1,000 from 800 on
    assert len(VTAB1kDataset(str(tmp_path / 'out'), 'eurosat',
                             split='test')) == 200
    assert pv.read_manifest(task_dir)['builder'] == 'eurosat/rgb:2.*.*'
    # a builder that needs a manual download names the files and the folder
    with pytest.raises(
            FileNotFoundError, match=r'resisc45: .*NWPU-RESISC45 in .*manual'):
        source.open('resisc45')
    # the command skips a finished task and refuses, before any download, a
    # task folder holding another task's files
    out = str(tmp_path / 'out')
    assert pv.main([out, '--tasks', 'eurosat']) == 0
    os.rename(task_dir, osp.join(out, 'dtd'))
    with pytest.raises(FileExistsError, match="dtd: .* of task 'eurosat'"):
        pv.main([out, '--tasks', 'dtd'])
