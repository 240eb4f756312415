import gzip
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
from mmpretrain.datasets import BaseDataset

from mmprompt.registry import DATASETS
from .subsets import class_balanced_subset

FASHION_MNIST_FILES = {
    'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
    'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'),
}
DEBIAN_ROOT = '/usr/share/datasets/fashion-mnist'


def _read_idx(path: str) -> np.ndarray:
    with gzip.open(path, 'rb') as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], 'big')
    ndim = magic & 0xFF
    if magic >> 8 != 0x08:  # 0x08: unsigned byte payload
        raise ValueError(f'{path} is not an idx file of unsigned bytes '
                         f'(magic {magic:#x})')
    shape = [
        int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)
    ]
    return np.frombuffer(
        data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def balanced_subset(labels: np.ndarray, num_per_class: Optional[int],
                    seed: int) -> np.ndarray:
    """Sorted indices of ``num_per_class`` samples of every class (all of
    them for None); the choice depends only on ``seed`` and the labels."""
    if num_per_class is None:
        return np.arange(len(labels))
    return class_balanced_subset(labels, seed, num_per_class=num_per_class)


@DATASETS.register_module()
class FashionMNISTSubset(BaseDataset):
    """Fashion-MNIST read from its gzipped idx files, as RGB images.

    Debian's ``dataset-fashion-mnist`` package installs the four files in
    ``/usr/share/datasets/fashion-mnist``. Each item is a 28x28x3 uint8 image
    (the gray channel repeated) under ``img`` plus ``gt_label``, so
    mmpretrain's transforms (``Resize``, ``PackInputs``) apply directly.

    Args:
        data_root (str): Folder with the ``*-idx?-ubyte.gz`` files.
        split (str): ``'train'`` or ``'test'``.
        num_per_class (int, optional): Keep a fixed, class-balanced subset of
            this many images per class. None keeps all. Defaults to None.
        seed (int): Seed of the subset choice. Defaults to 0.
        exclude_num_per_class (int): Leave out the images that the subset of
            this many per class (same split and seed) holds, then choose:
            a validation split carved from the training set, disjoint from
            the training subset. 0 leaves nothing out. Defaults to 0.
        label_map (dict, optional): Fashion-MNIST label -> label of a task
            derived from it; images of unmapped classes are left out (e.g.
            footwear only: ``{5: 0, 7: 1, 9: 2}``). Name its classes with
            ``metainfo=dict(classes=...)``, one per label. None keeps the
            ten classes. Defaults to None.
        **kwargs: Arguments of :class:`mmpretrain.datasets.BaseDataset`.
    """
    METAINFO = {
        'classes': ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                    'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot')
    }

    def __init__(self,
                 data_root: str = DEBIAN_ROOT,
                 split: str = 'train',
                 num_per_class: Optional[int] = None,
                 seed: int = 0,
                 exclude_num_per_class: int = 0,
                 label_map: Optional[Dict[int, int]] = None,
                 **kwargs):
        if split not in FASHION_MNIST_FILES:
            raise ValueError(f'split must be one of '
                             f'{tuple(FASHION_MNIST_FILES)}, got {split!r}')
        self.split = split
        self.num_per_class = num_per_class
        self.seed = seed
        if isinstance(exclude_num_per_class, bool) or not isinstance(
                exclude_num_per_class, int) or exclude_num_per_class < 0:
            raise ValueError(f'exclude_num_per_class must be an int >= 0, '
                             f'got {exclude_num_per_class!r}')
        self.exclude_num_per_class = exclude_num_per_class
        self.label_map = self._check_label_map(label_map, kwargs)
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    def _check_label_map(self, label_map, kwargs) -> Optional[dict]:
        if label_map is None:
            return None
        if not isinstance(label_map, dict) or not label_map or not all(
                isinstance(k, int) and 0 <= k < 10 and isinstance(v, int)
                for k, v in label_map.items()):
            raise ValueError('label_map must map Fashion-MNIST labels (0-9) '
                             f'to int labels, got label_map={label_map!r}')
        targets = sorted(set(label_map.values()))
        if targets != list(range(len(targets))):
            raise ValueError(f'label_map must give the labels 0..K-1, got '
                             f'{targets} (label_map={label_map!r})')
        classes = (kwargs.get('metainfo') or {}).get('classes')
        if classes is None or len(classes) != len(targets):
            raise ValueError(
                f'label_map gives {len(targets)} classes: name them with '
                f'metainfo=dict(classes=[...]) ({len(targets)} names), got '
                f'classes={classes!r}')
        return dict(label_map)

    def load_data_list(self) -> List[dict]:
        paths = [
            osp.join(self.data_root, name)
            for name in FASHION_MNIST_FILES[self.split]
        ]
        missing = [p for p in paths if not osp.isfile(p)]
        if missing:
            raise FileNotFoundError(
                f'Fashion-MNIST file(s) missing: {missing}. Install them '
                "with 'apt-get update && apt-get install "
                "dataset-fashion-mnist' (Debian puts them in "
                f'{DEBIAN_ROOT}) or set data_root to a folder holding '
                f'{list(FASHION_MNIST_FILES[self.split])}')
        images = _read_idx(paths[0])
        labels = _read_idx(paths[1])
        if self.exclude_num_per_class:
            excluded = balanced_subset(labels, self.exclude_num_per_class,
                                       self.seed)
            rest = np.setdiff1d(np.arange(len(labels)), excluded)
            keep = rest[balanced_subset(labels[rest], self.num_per_class,
                                        self.seed)]
        else:
            keep = balanced_subset(labels, self.num_per_class, self.seed)
        if self.label_map is not None:
            keep = [i for i in keep if int(labels[i]) in self.label_map]
        relabel = self.label_map or {c: c for c in range(10)}
        return [
            dict(
                img=np.repeat(images[i][:, :, None], 3, axis=2),
                gt_label=relabel[int(labels[i])]) for i in keep
        ]
