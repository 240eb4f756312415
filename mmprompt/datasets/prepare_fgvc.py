"""Write VPT's json splits for an FGVC dataset from its raw download.

Usage::

    python tools/dataset_converters/prepare_fgvc.py NAME RAW_ROOT \
        [--out-dir DIR] [--val-ratio 0.1] [--seed 0]

writes ``{train,val,test}.json`` (``{relative_path: class_id}``, paths
relative to the image folder ``FGVCDataset`` uses) into ``--out-dir``
(default ``RAW_ROOT``). ``val`` is a seeded random ``--val-ratio`` of the
official training set (``ceil``, which gives VPT's published sizes: CUB
5,394/600, NABirds 21,536/2,393, Dogs 10,800/1,200, Cars 7,329/815), ``train``
the rest and ``test`` the official test set. Oxford Flowers has an official
validation set, which is used as it is (VPT: 1,020/1,020/6,149).

Expected raw layouts (the archives as published, extracted):

``cub``       ``CUB_200_2011/``: ``images.txt``, ``image_class_labels.txt``,
              ``train_test_split.txt``, ``images/``
``nabirds``   ``nabirds/``: the same three files and ``images/``
``flowers``   ``imagelabels.mat``, ``setid.mat``, ``jpg/``
``dogs``      ``train_list.mat``, ``test_list.mat`` (from ``lists.tar``),
              ``Images/``
``cars``      ``devkit/cars_train_annos.mat``,
              ``devkit/cars_test_annos_withlabels.mat`` (or
              ``cars_test_annos_withlabels.mat`` in the root),
              ``cars_train/``, ``cars_test/``; or the single-file release
              ``cars_annos.mat`` with ``car_ims/``
"""
import argparse
import json
import math
import os
import os.path as osp

import numpy as np
from scipy.io import loadmat

NAMES = ('cub', 'nabirds', 'flowers', 'dogs', 'cars')


def _need(path):
    if not osp.isfile(path):
        raise FileNotFoundError(f'expected file not found: {path}')
    return path


def _read_table(path):
    """``{id: rest_of_line}`` of a whitespace separated ``id value`` file."""
    out = {}
    with open(_need(path), encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                raise ValueError(f'{path}:{lineno}: expected "id value", got '
                                 f'{line!r}')
            out[parts[0]] = parts[1]
    return out


def _loadmat(path):
    return loadmat(_need(path), squeeze_me=True, struct_as_record=False)


def _mat_str(value):
    """A MATLAB cell entry (possibly a 0-d/1-element array) as a str."""
    while isinstance(value, np.ndarray):
        value = value.item() if value.size == 1 else value[0]
    return str(value)


def read_cub_like(root):
    """CUB-200-2011 and NABirds: ``(train, test)`` lists of (path, class)."""
    images = _read_table(osp.join(root, 'images.txt'))
    labels = _read_table(osp.join(root, 'image_class_labels.txt'))
    is_train = _read_table(osp.join(root, 'train_test_split.txt'))
    train, test = [], []
    for image_id, path in images.items():
        for table, what in ((labels, 'image_class_labels.txt'),
                            (is_train, 'train_test_split.txt')):
            if image_id not in table:
                raise ValueError(f'image id {image_id} of images.txt is '
                                 f'missing from {what}')
        item = (path.strip(), int(labels[image_id]))
        (train if is_train[image_id].strip() == '1' else test).append(item)
    return train, test


def read_flowers(root):
    """``(train, val, test)`` from the official setid.mat."""
    labels = np.atleast_1d(
        _loadmat(osp.join(root, 'imagelabels.mat'))['labels'])
    setid = _loadmat(osp.join(root, 'setid.mat'))

    def items(key):
        return [(f'jpg/image_{int(i):05d}.jpg', int(labels[int(i) - 1]))
                for i in np.atleast_1d(setid[key])]

    return items('trnid'), items('valid'), items('tstid')


def read_dogs(root):
    out = []
    for name in ('train_list.mat', 'test_list.mat'):
        path = osp.join(root, name)
        if not osp.isfile(path):
            path = osp.join(root, 'lists', name)
        mat = _loadmat(path)
        files = np.atleast_1d(mat['file_list'])
        labels = np.atleast_1d(mat['labels'])
        out.append([(_mat_str(f), int(c)) for f, c in zip(files, labels)])
    return out[0], out[1]


def read_cars(root):
    single = osp.join(root, 'cars_annos.mat')
    if osp.isfile(single):
        train, test = [], []
        for a in np.atleast_1d(_loadmat(single)['annotations']):
            item = (_mat_str(a.relative_im_path), int(getattr(a, 'class')))
            (test if int(a.test) else train).append(item)
        return train, test
    devkit = osp.join(root, 'devkit')
    test_annos = osp.join(devkit, 'cars_test_annos_withlabels.mat')
    if not osp.isfile(test_annos):
        test_annos = osp.join(root, 'cars_test_annos_withlabels.mat')
    out = []
    for path, folder in ((osp.join(devkit, 'cars_train_annos.mat'),
                          'cars_train'), (test_annos, 'cars_test')):
        annos = np.atleast_1d(_loadmat(path)['annotations'])
        out.append([(f'{folder}/{_mat_str(a.fname)}', int(getattr(a, 'class')))
                    for a in annos])
    return out[0], out[1]


def split_train_val(items, val_ratio, seed):
    """Seeded split of ``items``: ``ceil(len * val_ratio)`` go to val.

    The result depends only on the items (not their order), the ratio and
    the seed.
    """
    if not 0 < val_ratio < 1:
        raise ValueError(f'val_ratio must be in (0, 1), got {val_ratio}')
    items = sorted(items)
    num_val = math.ceil(round(len(items) * val_ratio, 6))
    order = np.random.default_rng(seed).permutation(len(items))
    val_idx = set(order[:num_val].tolist())
    train = [x for i, x in enumerate(items) if i not in val_idx]
    val = [x for i, x in enumerate(items) if i in val_idx]
    return train, val


def build_splits(name, raw_root, val_ratio=0.1, seed=0):
    """``{'train': [...], 'val': [...], 'test': [...]}`` of (path, class)."""
    if name not in NAMES:
        raise ValueError(f'Unknown FGVC dataset {name!r}; choose from '
                         f'{", ".join(NAMES)}')
    if name == 'flowers':
        train, val, test = read_flowers(raw_root)
        return dict(train=train, val=val, test=test)
    reader = {
        'cub': read_cub_like,
        'nabirds': read_cub_like,
        'dogs': read_dogs,
        'cars': read_cars
    }[name]
    official_train, test = reader(raw_root)
    train, val = split_train_val(official_train, val_ratio, seed)
    return dict(train=train, val=val, test=test)


def write_splits(splits, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for split, items in splits.items():
        with open(
                osp.join(out_dir, f'{split}.json'), 'w',
                encoding='utf-8') as f:
            json.dump(dict(items), f)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Write VPT json splits ({train,val,test}.json) for an '
        'FGVC dataset from its raw download.')
    parser.add_argument('name', choices=NAMES)
    parser.add_argument('raw_root', help='the extracted download')
    parser.add_argument('--out-dir', help='default: raw_root')
    parser.add_argument('--val-ratio', type=float, default=0.1)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    splits = build_splits(args.name, args.raw_root, args.val_ratio, args.seed)
    out_dir = args.out_dir or args.raw_root
    write_splits(splits, out_dir)
    classes = {c for items in splits.values() for _, c in items}
    print(f'{args.name}: ' + ', '.join(f'{k} {len(v)}'
                                       for k, v in splits.items()) +
          f' images, {len(classes)} classes -> {out_dir}')
    return 0
