"""FGVC and VTAB-1k: datasets, dataset converters, sweep and summariser.

Every test builds a tiny fake folder in the real format and reads it through
the dataset classes (and mmpretrain's pipelines) or the tools' functions.
The fake-folder writers live in helpers.py.
"""
import argparse
import json
import os
import os.path as osp

import numpy as np
import pytest

import mmprompt  # noqa: F401
from mmprompt.datasets import (VTAB1K_TASKS, FGVCDataset, VTAB1kDataset,
                               check_vtab)
from mmprompt.datasets import prepare_fgvc as prepare_fgvc_module
from mmprompt.datasets.fgvc import FGVC_DATASETS
from mmprompt.datasets.vtab1k import VTAB1K_GROUPS
from mmprompt.evaluation import summarize_results
from mmprompt.evaluation.references import REFERENCES
from mmprompt.methods.vpt import sweep as sweep_vpt
from mmprompt.registry import DATASETS
from helpers import (bad_input_params, check_bad_input, label_of, make_fgvc,
                     make_vtab, text, touch, write_image)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# ---------------------------------------------------------------------------
# fake folders
# ---------------------------------------------------------------------------
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(16, 16)),
    dict(type='PackInputs')
]


# ---------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------
def test_fgvc_reads_vpt_json_through_mmpretrain_pipeline(tmp_path):
    root = make_fgvc(
        str(tmp_path / 'dogs'),
        'dogs',
        class_ids=(12, 3, 7),
        per_split=dict(train=3, val=1, test=2))
    # val lacks class 12: it must keep the labels of the other splits
    with open(osp.join(root, 'val.json')) as f:
        val = {k: v for k, v in json.load(f).items() if v != 12}
    with open(osp.join(root, 'val.json'), 'w') as f:
        json.dump(val, f)

    ds = DATASETS.build(
        dict(
            type='mmprompt.FGVCDataset',
            data_root=root,
            name='dogs',
            split='train',
            pipeline=PIPELINE))
    assert len(ds) == 9
    assert ds.metainfo['classes'] == ('3', '7', '12')
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert sorted(i['gt_label'] for i in infos) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for info in infos:  # Stanford Dogs images live in Images/
        assert f'{os.sep}Images{os.sep}class_' in info['img_path']
    item = ds[4]
    assert tuple(item['inputs'].shape) == (3, 16, 16)
    label = item['data_samples'].gt_label.item()
    # inputs are BGR (LoadImageFromFile): red is the last channel
    assert label_of(item['inputs'].permute(1, 2, 0).numpy()[..., ::-1]) \
        == label

    val_ds = FGVCDataset(data_root=root, name='dogs', split='val')
    assert sorted(
        val_ds.get_data_info(i)['gt_label']
        for i in range(len(val_ds))) == [0, 1]
    assert len(FGVCDataset(data_root=root, name='dogs', split='test')) == 6


def test_vtab_reads_lists_through_mmpretrain_pipeline(tmp_path):
    root = make_vtab(str(tmp_path), 'dtd')
    sizes = {}
    for split in ('train800', 'val200', 'train800val200', 'test'):
        ds = DATASETS.build(
            dict(
                type='mmprompt.VTAB1kDataset',
                data_root=root,
                task='dtd',
                split=split,
                pipeline=PIPELINE))
        sizes[split] = len(ds)
        for i in range(len(ds)):
            item = ds[i]
            img = item['inputs'].permute(1, 2, 0).numpy()[..., ::-1]
            assert label_of(img) == item['data_samples'].gt_label.item()
    assert sizes == dict(train800=8, val200=4, train800val200=12, test=6)
    assert len(ds.metainfo['classes']) == 47
    assert ds.num_classes == 47

    # NOAH's archive names the cifar100 folder 'cifar'
    make_vtab(str(tmp_path), 'cifar100', folder='cifar')
    ds = VTAB1kDataset(data_root=root, task='cifar100', split='val200')
    assert len(ds) == 4 and f'{os.sep}cifar{os.sep}' in \
        ds.get_data_info(0)['img_path']


def _rewrite(path, fn, lines=None):
    if lines is None:
        with open(path) as f:
            lines = f.read().splitlines()
    with open(path, 'w') as f:
        f.write('\n'.join(fn(lines)) + '\n')


def test_vtab_bad_inputs(tmp_path):
    root = make_vtab(str(tmp_path), 'eurosat')
    task_dir = osp.join(root, 'eurosat')

    with pytest.raises(ValueError) as e:
        VTAB1kDataset(data_root=root, task='cifar-100')
    for task in VTAB1K_TASKS:
        assert task in str(e.value)
    assert "'cifar-100'" in str(e.value) and len(VTAB1K_TASKS) == 19

    with pytest.raises(ValueError, match="split 'val'"):
        VTAB1kDataset(data_root=root, task='eurosat', split='val')

    os.remove(osp.join(task_dir, 'val200.txt'))
    with pytest.raises(
            FileNotFoundError,
            match=r'split file not found: .*eurosat.val200\.txt'):
        VTAB1kDataset(data_root=root, task='eurosat', split='val200')

    with pytest.raises(FileNotFoundError, match='task folder not found'):
        VTAB1kDataset(data_root=root, task='dtd', split='test')

    path = osp.join(task_dir, 'train800.txt')
    with open(path) as f:
        orig = f.read().splitlines()
    _rewrite(path, lambda ls: ls[:2] + ['images/2.png 10'] + ls[3:])
    with pytest.raises(
            ValueError,
            match=r'train800\.txt:3: label 10 is outside the 10 '
            r'classes \(valid: 0\.\.9\)'):
        VTAB1kDataset(data_root=root, task='eurosat', split='train800')

    _rewrite(path, lambda ls: ls[:2] + ['images/2.png two'] + ls[3:], orig)
    with pytest.raises(ValueError, match=r"train800\.txt:3: label 'two'"):
        VTAB1kDataset(data_root=root, task='eurosat', split='train800')

    _rewrite(path, lambda ls: ls[:2] + ['images/2.png'] + ls[3:], orig)
    with pytest.raises(ValueError, match=r"train800\.txt:3: expected"):
        VTAB1kDataset(data_root=root, task='eurosat', split='train800')

    _rewrite(
        path, lambda ls: ls[:1] + ['images/nope.png 1'] + ls[2:3] +
        ['images/gone.png 1'] + ls[4:], orig)
    with pytest.raises(
            FileNotFoundError,
            match=r"train800\.txt:2: image 'images/nope\.png' "
            r'does not exist .*\(1 more missing\)'):
        VTAB1kDataset(data_root=root, task='eurosat', split='train800')
    # the check can be turned off (then the loader fails on that image)
    ds = VTAB1kDataset(
        data_root=root, task='eurosat', split='train800', check_files=False)
    assert len(ds) == 8


def test_fgvc_bad_inputs(tmp_path):
    root = make_fgvc(
        str(tmp_path / 'cub'), 'cub', class_ids=(1, 2, 3), indent=1)
    with pytest.raises(
            ValueError,
            match=r"Unknown FGVC dataset 'birds'; "
            r'choose from cub, nabirds, flowers, dogs, cars'):
        FGVCDataset(data_root=root, name='birds')
    with pytest.raises(ValueError, match="split 'train800'"):
        FGVCDataset(data_root=root, name='cub', split='train800')

    os.remove(osp.join(root, 'val.json'))
    with pytest.raises(
            FileNotFoundError, match=r'split file not found: .*cub.val\.json'):
        FGVCDataset(data_root=root, name='cub', split='val')

    # one image missing: reported with its line in the json file
    path = osp.join(root, 'test.json')
    with open(path) as f:
        anno = json.load(f)
    missing = 'class_2/test_1.png'
    os.remove(osp.join(root, 'images', missing))
    with open(path) as f:
        lineno = 1 + [
            i for i, line in enumerate(f.read().splitlines())
            if f'"{missing}"' in line
        ][0]
    assert lineno > 2
    with pytest.raises(
            FileNotFoundError,
            match=rf"test\.json:{lineno}: image '{missing}' does "
            'not exist'):
        FGVCDataset(data_root=root, name='cub', split='test')

    # more class ids than the dataset has classes
    flowers = make_fgvc(
        str(tmp_path / 'flowers'),
        'flowers',
        class_ids=tuple(range(103)),
        per_split=dict(train=1))
    with pytest.raises(
            ValueError,
            match=r"103 distinct class ids .* 'flowers' has 102 "
            r'classes; class id 102 is out of range'):
        FGVCDataset(data_root=flowers, name='flowers', split='train')

    anno['class_1/test_0.png'] = [1]
    with open(path, 'w') as f:
        json.dump(anno, f)
    with pytest.raises(
            ValueError,
            match=r'class id \[1\] of '
            "'class_1/test_0.png' is not an int or string"):
        FGVCDataset(data_root=root, name='cub', split='test')


# ---------------------------------------------------------------------------
# tools/dataset_converters
# ---------------------------------------------------------------------------
@pytest.fixture(scope='module')
def prepare_fgvc():
    return prepare_fgvc_module


def test_val_split_sizes_match_vpt(prepare_fgvc):
    # VPT's published train/val sizes of the official training sets
    for total, val in [(5994, 600), (23929, 2393), (12000, 1200), (8144, 815)]:
        train_part, val_part = prepare_fgvc.split_train_val(
            [(f'{i}.jpg', i % 7) for i in range(total)], 0.1, seed=0)
        assert (len(train_part), len(val_part)) == (total - val, val)
    with pytest.raises(ValueError, match='val_ratio must be in'):
        prepare_fgvc.split_train_val([('a', 1)], 1.5, seed=0)


def _write_cub_raw(root, num_classes=4, per_class=(10, 5), uuid=False):
    images, labels, split = [], [], []
    k = 0
    for c in range(num_classes):
        cid = 100 + 3 * c if uuid else c + 1  # NABirds: sparse class ids
        for is_train, n in ((1, per_class[0]), (0, per_class[1])):
            for _ in range(n):
                k += 1
                image_id = f'id-{k:04x}' if uuid else str(k)
                rel = f'{cid:03d}.class/img_{k}.jpg'
                write_image(osp.join(root, 'images', rel), c)
                images.append(f'{image_id} {rel}')
                labels.append(f'{image_id} {cid}')
                split.append(f'{image_id} {is_train}')
    for name, lines in (('images.txt', images), ('image_class_labels.txt',
                                                 labels),
                        ('train_test_split.txt', split)):
        with open(osp.join(root, name), 'w') as f:
            f.write('\n'.join(lines) + '\n')


@pytest.mark.parametrize('name', ['cub', 'nabirds'])
def test_prepare_fgvc_cub_layout(tmp_path, prepare_fgvc, name):
    raw = str(tmp_path / name)
    _write_cub_raw(raw, uuid=name == 'nabirds')
    assert prepare_fgvc.main([name, raw, '--seed', '3']) == 0
    splits = {}
    for split in ('train', 'val', 'test'):
        with open(osp.join(raw, f'{split}.json')) as f:
            splits[split] = json.load(f)
    assert [len(splits[s]) for s in ('train', 'val', 'test')] == [36, 4, 20]
    assert not set(splits['train']) & set(splits['val'])
    with open(osp.join(raw, 'train_test_split.txt')) as f:
        num_test = sum(line.split()[1] == '0' for line in f)
    assert num_test == len(splits['test'])

    again = prepare_fgvc.build_splits(name, raw, seed=3)
    other = prepare_fgvc.build_splits(name, raw, seed=4)
    assert dict(again['val']) == splits['val']
    assert dict(other['val']) != splits['val']
    assert dict(other['train']) | dict(other['val']) == \
        splits['train'] | splits['val']

    ds = FGVCDataset(
        data_root=raw, name=name, split='train', pipeline=PIPELINE)
    assert len(ds) == 36
    for i in range(0, 36, 5):
        img = ds[i]['inputs'].permute(1, 2, 0).numpy()[..., ::-1]
        assert label_of(img) == ds[i]['data_samples'].gt_label.item()


def test_prepare_fgvc_mat_layouts(tmp_path, prepare_fgvc):
    from scipy.io import savemat

    # Oxford Flowers: labels and the official train/val/test ids
    flowers = str(tmp_path / 'flowers')
    labels = np.array([1, 2, 3] * 4)
    for i, label in enumerate(labels, 1):
        write_image(osp.join(flowers, 'jpg', f'image_{i:05d}.jpg'), label - 1)
    os.makedirs(flowers, exist_ok=True)
    savemat(osp.join(flowers, 'imagelabels.mat'), dict(labels=labels))
    savemat(
        osp.join(flowers, 'setid.mat'),
        dict(
            trnid=np.array([1, 2, 3]),
            valid=np.array([4, 5, 6]),
            tstid=np.arange(7, 13)))
    splits = prepare_fgvc.build_splits('flowers', flowers)
    assert [len(splits[s]) for s in ('train', 'val', 'test')] == [3, 3, 6]
    assert splits['val'][0] == ('jpg/image_00004.jpg', 1)
    prepare_fgvc.write_splits(splits, flowers)
    ds = FGVCDataset(data_root=flowers, name='flowers', split='test')
    assert [ds.get_data_info(i)['gt_label'] for i in range(6)] == \
        [0, 1, 2, 0, 1, 2]

    # Stanford Dogs: lists/{train,test}_list.mat
    dogs = str(tmp_path / 'dogs')
    os.makedirs(osp.join(dogs, 'lists'))
    for name, n in (('train_list.mat', 20), ('test_list.mat', 6)):
        files = np.array(
            [f'n0{i % 2}-breed/{name[:4]}_{i}.jpg' for i in range(n)],
            dtype=object)
        savemat(
            osp.join(dogs, 'lists', name),
            dict(file_list=files, labels=np.arange(n) % 2 + 1))
    splits = prepare_fgvc.build_splits('dogs', dogs)
    assert [len(splits[s]) for s in ('train', 'val', 'test')] == [18, 2, 6]
    assert splits['test'][1] == ('n01-breed/test_1.jpg', 2)

    # Stanford Cars: devkit annotations
    cars = str(tmp_path / 'cars')
    os.makedirs(osp.join(cars, 'devkit'))
    for name, n in (('cars_train_annos.mat', 10),
                    ('cars_test_annos_withlabels.mat', 4)):
        annos = np.zeros((n, ), dtype=[('fname', 'O'), ('class', 'O')])
        for i in range(n):
            annos[i] = (f'{i + 1:05d}.jpg', i % 3 + 1)
        savemat(osp.join(cars, 'devkit', name), dict(annotations=annos))
    splits = prepare_fgvc.build_splits('cars', cars)
    assert [len(splits[s]) for s in ('train', 'val', 'test')] == [9, 1, 4]
    assert splits['test'][2] == ('cars_test/00003.jpg', 3)

    with pytest.raises(FileNotFoundError, match='imagelabels.mat'):
        prepare_fgvc.build_splits('flowers', str(tmp_path))


def test_check_vtab_reports_each_problem(tmp_path, capsys):
    check = check_vtab
    full = dict(train800=800, val200=200, train800val200=1000, test=30)
    root = str(tmp_path)
    make_vtab(root, 'kitti', counts=full, num_images=6)
    make_vtab(root, 'svhn', counts=full, num_images=6)
    assert check.main([root, '--tasks', 'kitti', 'svhn']) == 0
    out = capsys.readouterr().out
    assert 'kitti: OK (train800 800, val200 200, train800val200 1000, ' \
        'test 30)' in out and '2/2 tasks OK' in out

    svhn = osp.join(root, 'svhn')
    _rewrite(osp.join(svhn, 'val200.txt'), lambda ls: ls[:-1])
    _rewrite(
        osp.join(svhn, 'test.txt'),
        lambda ls: ls[:4] + ['images/0.png 12'] + ls[5:])
    os.remove(osp.join(svhn, 'images', '5.png'))
    assert check.main([root, '--tasks', 'kitti', 'svhn', 'dmlab']) == 1
    out = capsys.readouterr().out
    assert 'kitti: OK' in out
    assert 'val200.txt: 199 lines, expected 200' in out
    assert 'train800val200.txt: not the union' in out
    assert 'test.txt:5: label 12 is outside the 10 classes' in out
    assert "train800.txt:6: image 'images/5.png' does not exist" in out
    assert 'dmlab: 1 problem(s)' in out and 'task folder not found' in out
    assert '1/3 tasks OK' in out
    with pytest.raises(SystemExit):
        check.main([root, '--tasks', 'cifar'])
    assert 'smallnorb_ele' in capsys.readouterr().err


# ---------------------------------------------------------------------------
# tools/sweep_vpt.py and tools/summarize_results.py
# ---------------------------------------------------------------------------
def _fake_result(run_dir, acc, stamp='20260101_000000'):
    path = osp.join(run_dir, stamp, 'vis_data', 'scalars.json')
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(json.dumps(dict(loss=1.0, step=10)) + '\n')
        f.write(json.dumps({'accuracy/top1': acc - 5, 'step': 50}) + '\n')
        f.write(json.dumps({'accuracy/top1': acc, 'step': 100}) + '\n')


def _options_to_cfg(config, options):
    from mmengine.config import Config, DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(
        parser.parse_args(['--cfg-options'] + options).cfg_options)
    return cfg


def test_sweep_and_summary(tmp_path, capsys):
    sweep = sweep_vpt
    summarize = summarize_results
    config = osp.join(ROOT, 'configs', 'vpt', 'vpt-deep',
                      'vpt-deep_vit-b16-in21k_vtab1k-dtd.py')
    work = str(tmp_path / 'sweep')
    base = ['--work-root', work, '--gpus', '2']

    assert sweep.main([
        config, '--phase', 'tune', '--schedule', 'sgd', '--lrs', '0.5', '0.25',
        '--wds', '0', '0.001'
    ] + base) == 0
    commands = [
        line for line in capsys.readouterr().out.splitlines()
        if 'train.py' in line
    ]
    assert len(commands) == 4
    runs = sweep.plan_runs(
        config,
        sweep.parse_args([
            config, '--phase', 'tune', '--schedule', 'sgd', '--lrs', '0.5',
            '--wds', '0.001'
        ] + base))
    run_dir, meta, options = runs[0]
    assert run_dir == osp.join(work, 'vpt-deep_vit-b16-in21k_vtab1k-dtd',
                               'tune', 'lr0.5_wd0.001')
    cfg = _options_to_cfg(config, options)
    # VPT's SGD, lr = base lr * (32 per GPU * 2 GPUs) / 256
    assert cfg.optim_wrapper.optimizer.to_dict() == dict(
        type='SGD', lr=0.5 * 64 / 256, momentum=0.9, weight_decay=0.001)
    assert cfg.optim_wrapper.paramwise_cfg.to_dict() == dict(
        bias_decay_mult=0.)
    assert cfg.train_dataloader.dataset.split == 'train800'
    assert cfg.val_dataloader.dataset.split == 'val200'
    assert cfg.train_cfg.val_interval == cfg.train_cfg.max_epochs == 100
    assert meta['actual_lr'] == 0.125 and meta['kind'] == 'prompt'

    # the final phase refuses to pick while tuning runs are pending
    tune_root = osp.join(work, 'vpt-deep_vit-b16-in21k_vtab1k-dtd', 'tune')
    _fake_result(osp.join(tune_root, 'lr0.5_wd0'), 60.0)
    with pytest.raises(RuntimeError, match='3 tuning run'):
        sweep.main([config, '--phase', 'final'] + base)
    _fake_result(osp.join(tune_root, 'lr0.5_wd0.001'), 71.0)
    _fake_result(osp.join(tune_root, 'lr0.25_wd0'), 71.0)  # tie: smaller lr
    _fake_result(osp.join(tune_root, 'lr0.25_wd0.001'), 65.5)
    assert sweep.main([
        config, '--phase', 'final', '--schedule', 'sgd', '--seeds', '1', '2',
        '3'
    ] + base) == 0
    commands = [
        line for line in capsys.readouterr().out.splitlines()
        if 'train.py' in line
    ]
    assert len(commands) == 3
    assert all('lr0.25_wd0_seed' in c for c in commands)
    assert 'train_dataloader.dataset.split=train800val200' in commands[0]
    assert 'val_dataloader.dataset.split=test' in commands[0]
    assert 'randomness.seed=2' in commands[1]

    final_root = osp.join(work, 'vpt-deep_vit-b16-in21k_vtab1k-dtd', 'final')
    for seed, acc in ((1, 70.0), (2, 72.0), (3, 74.0)):
        _fake_result(osp.join(final_root, f'lr0.25_wd0_seed{seed}'), acc)
    # a finished run is skipped when the sweep is started again
    assert sweep.main([config, '--phase', 'final', '--seeds', '1', '4'] +
                      base + ['--schedule', 'sgd']) == 0
    out = capsys.readouterr().out
    assert out.count('# done, skipped') == 1 and 'seed4' in out

    summary = summarize.summarize(summarize.collect_runs(work))
    s = summary['vpt-deep_vit-b16-in21k_vtab1k-dtd']
    assert s['best'] == (0.25, 0.0, 71.0)
    assert s['test'] == [70.0, 72.0, 74.0] and s['test_mean'] == 72.0
    assert s['tune_done'] == s['tune_total'] == 4 and s['final_total'] == 4
    assert summarize.main([work, '--json', str(tmp_path / 's.json')]) == 0
    out = capsys.readouterr().out
    assert 'test 72.00 ± 1.63 over 3 seed(s)' in out
    assert '| recipe | vtab1k-dtd | FGVC mean |' in out
    assert '| vpt-deep_vit-b16-in21k | 72.0 |' in out
    assert 'VTAB mean of groups | VTAB mean of 19 tasks |' in out
    # the published rows of the recipe's pretraining, with their source:
    # VPT-Deep's DTD, its three group means as printed, their mean
    # (78.48 + 82.43 + 54.98) / 3 and the mean of its 19 tasks 1319.1 / 19;
    # its FGVC mean as printed
    assert ('| VPT-Deep, vit-b16-in21k (published [1]) | 65.8 | 89.11 | '
            '78.48 | 82.43 | 54.98 | 71.96 | 69.43 |') in out
    assert '[1] Jia et al., Visual Prompt Tuning, ECCV 2022' in out
    assert out.count('(published [1])') == 4


def test_published_rows_agree_with_their_group_means():
    assert {r['method']
            for r in REFERENCES} >= {
                'VPT-Deep', 'VPT-Shallow', 'Linear probe', 'Full fine-tuning'
            }
    for ref in REFERENCES:
        assert set(ref['vtab1k']) == set(VTAB1K_TASKS)
        for group, tasks in VTAB1K_GROUPS.items():
            mean = np.mean([ref['vtab1k'][t] for t in tasks])
            # the papers average unrounded numbers: to rounding
            assert abs(mean -
                       ref['group_means'][group]) < 0.03, (ref['method'],
                                                           group)
        # FGVC: 5 numbers rounded to 0.1, so their mean is within 0.05
        assert set(ref['fgvc']) == set(FGVC_DATASETS)
        fgvc = np.mean(list(ref['fgvc'].values()))
        assert abs(fgvc - ref['group_means']['fgvc']) <= 0.05, ref['method']


# ------------------------------------------------------------ bad input
def vtab_stub(root,
              task='eurosat',
              train800=('images/0.png 0', 'images/1.png 1')):
    """``<root>/<task>/{split}.txt``; listed images are empty files (only
    their existence is checked when the dataset is built)."""
    task_dir = osp.join(root, task)
    lines = {
        'train800': list(train800),
        'val200': ['images/0.png 0'],
        'test': ['images/1.png 1']
    }
    lines['train800val200'] = lines['train800'] + lines['val200']
    for i in range(2):
        touch(osp.join(task_dir, 'images', f'{i}.png'))
    for split, ls in lines.items():
        with open(osp.join(task_dir, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(ls) + '\n')
    return str(root)


def fgvc_stub(root, splits):
    """VPT's ``{split}.json`` files, ``{relative_path: class_id}``."""
    os.makedirs(root, exist_ok=True)
    for split, anno in splits.items():
        with open(osp.join(root, f'{split}.json'), 'w') as f:
            json.dump(anno, f, indent=1)
    return str(root)


def vtab_unknown_task(tmp_path, monkeypatch):
    DATASETS.build(
        dict(
            type='mmprompt.VTAB1kDataset',
            data_root=vtab_stub(tmp_path),
            task='cifar-100'))


def vtab_missing_split_file(tmp_path, monkeypatch):
    root = vtab_stub(tmp_path)
    os.remove(osp.join(root, 'eurosat', 'val200.txt'))
    DATASETS.build(
        dict(
            type='mmprompt.VTAB1kDataset',
            data_root=root,
            task='eurosat',
            split='val200'))


def vtab_label_out_of_range(tmp_path, monkeypatch):
    root = vtab_stub(
        tmp_path,
        train800=('images/0.png 0', 'images/1.png 1', 'images/1.png 10'))
    DATASETS.build(
        dict(
            type='mmprompt.VTAB1kDataset',
            data_root=root,
            task='eurosat',
            split='train800'))


def vtab_missing_image(tmp_path, monkeypatch):
    root = vtab_stub(
        tmp_path, train800=('images/0.png 0', 'images/nope.png 1'))
    DATASETS.build(
        dict(
            type='mmprompt.VTAB1kDataset',
            data_root=root,
            task='eurosat',
            split='train800'))


def fgvc_unknown_name(tmp_path, monkeypatch):
    root = fgvc_stub(str(tmp_path), dict(train={'a/0.png': 1}))
    DATASETS.build(
        dict(type='mmprompt.FGVCDataset', data_root=root, name='birds'))


def fgvc_missing_split_file(tmp_path, monkeypatch):
    root = fgvc_stub(str(tmp_path), dict(train={'a/0.png': 1}))
    DATASETS.build(
        dict(
            type='mmprompt.FGVCDataset',
            data_root=root,
            name='cub',
            split='val'))


def fgvc_class_id_out_of_range(tmp_path, monkeypatch):
    # 103 distinct class ids for Oxford Flowers' 102 classes
    root = fgvc_stub(
        str(tmp_path), dict(train={f'c{i}/0.png': i
                                   for i in range(103)}))
    DATASETS.build(
        dict(
            type='mmprompt.FGVCDataset',
            data_root=root,
            name='flowers',
            split='train'))


def fgvc_missing_image(tmp_path, monkeypatch):
    root = fgvc_stub(
        str(tmp_path),
        dict(test={
            'class_1/test_0.png': 1,
            'class_2/test_1.png': 2
        }))
    touch(osp.join(root, 'images', 'class_1', 'test_0.png'))
    DATASETS.build(
        dict(
            type='mmprompt.FGVCDataset',
            data_root=root,
            name='cub',
            split='test'))


# (id, expected exception or warning, pattern of its message, action)
BAD_INPUT = [
    ('vtab-unknown-task', ValueError,
     text("Unknown VTAB-1k task 'cifar-100'; the 19 tasks are:", 'cifar100',
          'eurosat'), vtab_unknown_task),
    ('vtab-missing-split-file', FileNotFoundError,
     text('split file not found:',
          osp.join('eurosat', 'val200.txt')), vtab_missing_split_file),
    ('vtab-label-out-of-range', ValueError,
     text('train800.txt:3: label 10 is outside the 10 classes (valid: 0..9)'),
     vtab_label_out_of_range),
    ('vtab-missing-image-with-line', FileNotFoundError,
     text("train800.txt:2: image 'images/nope.png' does not exist"),
     vtab_missing_image),
    ('fgvc-unknown-name', ValueError,
     text("Unknown FGVC dataset 'birds'; choose from cub, nabirds, flowers"),
     fgvc_unknown_name),
    ('fgvc-missing-split-file', FileNotFoundError,
     text('split file not found:', 'val.json'), fgvc_missing_split_file),
    ('fgvc-class-id-out-of-range', ValueError,
     text("103 distinct class ids", "'flowers' has 102 classes; class id "
          '102 is out of range'), fgvc_class_id_out_of_range),
    ('fgvc-missing-image-with-line', FileNotFoundError,
     text("test.json:3: image 'class_2/test_1.png' does not exist"),
     fgvc_missing_image),
]


@bad_input_params(BAD_INPUT)
def test_bad_input(expected, pattern, action, tmp_path, monkeypatch):
    check_bad_input(expected, pattern, action, tmp_path, monkeypatch)
