import copy
import json
from typing import Optional

import numpy as np
from mmengine.dataset import BaseDataset

from mmprompt.registry import DATASETS


def class_balanced_subset(labels: np.ndarray,
                          seed: int,
                          num_per_class: Optional[int] = None,
                          fraction: Optional[float] = None) -> np.ndarray:
    """Sorted indices of a seeded, class-balanced subset of ``labels``.

    Either ``num_per_class`` images of every class, or a ``fraction`` of
    each class (``max(1, round(fraction * n_c))`` of its n_c images). The
    choice depends only on ``seed`` and the labels, so every method and
    every run sees the same images.
    """
    if (num_per_class is None) == (fraction is None):
        raise ValueError('give exactly one of num_per_class and fraction')
    if fraction is not None and not (isinstance(fraction, (int, float))
                                     and 0 < fraction <= 1):
        raise ValueError(f'fraction must be in (0, 1], got {fraction!r}')
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = num_per_class if fraction is None else \
            max(1, int(round(fraction * len(idx))))
        if k > len(idx):
            raise ValueError(f'num_per_class={num_per_class} but class {c} '
                             f'has only {len(idx)} images')
        chosen.append(rng.choice(idx, k, replace=False))
    return np.sort(np.concatenate(chosen))


@DATASETS.register_module()
class ClassBalancedSubset:
    """A seeded, class-balanced fraction of a labelled dataset.

    Data-fraction experiments (the BPT poster's ImageNet-1k at 1 %, 10 %,
    ...): every class keeps ``max(1, round(fraction * n_c))`` of its
    images, chosen with ``seed`` from the labels alone, so every method
    trains on the same images. ``fraction=1`` is the whole dataset.

    Args:
        dataset (dict | BaseDataset): The labelled dataset (anything with
            ``get_gt_labels()``, e.g. mmpretrain's ``ImageNet``).
        fraction (float): Share of each class, in (0, 1].
        seed (int): Seed of the choice. Defaults to 0.
    """

    def __init__(self, dataset, fraction: float, seed: int = 0):
        if not (isinstance(fraction, (int, float))
                and not isinstance(fraction, bool) and 0 < fraction <= 1):
            raise ValueError(f'fraction must be in (0, 1], got {fraction!r}')
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        elif not isinstance(dataset, BaseDataset):
            raise TypeError(f'dataset must be a config dict or a '
                            f'BaseDataset, got {type(dataset).__name__}')
        if not hasattr(dataset, 'get_gt_labels'):
            raise TypeError(f'{type(dataset).__name__} has no '
                            'get_gt_labels(): a class-balanced subset needs '
                            'labels')
        self.dataset = dataset
        self.fraction = fraction
        self.seed = seed
        self.indices = class_balanced_subset(
            dataset.get_gt_labels(), seed, fraction=fraction)
        self._metainfo = copy.deepcopy(dataset.metainfo)

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self._metainfo)

    def get_gt_labels(self) -> np.ndarray:
        return np.asarray(self.dataset.get_gt_labels())[self.indices]

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(int(self.indices[idx]))

    def __getitem__(self, idx: int) -> dict:
        return self.dataset[int(self.indices[idx])]

    def __len__(self) -> int:
        return len(self.indices)


def _balanced_counts(num_classes: int, total: int,
                     rng: np.random.Generator) -> np.ndarray:
    """``total`` split over the classes as evenly as possible; which classes
    get one more is drawn with ``rng``."""
    counts = np.full(num_classes, total // num_classes)
    counts[rng.choice(num_classes, total % num_classes, replace=False)] += 1
    return counts


def vtab1k_draw(labels: np.ndarray,
                seed: int,
                num_train: int = 800,
                num_val: int = 200):
    """``(train, val)``: sorted indices of a class-balanced draw of
    ``num_train`` + ``num_val`` disjoint items of ``labels``.

    VTAB-1k's form with a fresh draw per seed: each class gets
    ``num // C`` items of each part, and the remainder goes one each to
    classes drawn with ``seed``. The draw depends only on ``seed`` and the
    labels.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    rng = np.random.default_rng(seed)
    val_counts = _balanced_counts(len(classes), num_val, rng)
    train_counts = _balanced_counts(len(classes), num_train, rng)
    train, val = [], []
    for c, n_val, n_train in zip(classes, val_counts, train_counts):
        idx = np.flatnonzero(labels == c)
        if n_val + n_train > len(idx):
            raise ValueError(
                f'class {c} has {len(idx)} items; the draw needs '
                f'{n_train} + {n_val} of it (num_train={num_train}, '
                f'num_val={num_val})')
        chosen = rng.choice(idx, n_val + n_train, replace=False)
        val.append(chosen[:n_val])
        train.append(chosen[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


_POOL = {}


def _shared_pool(dataset):
    """``dataset`` built, or the pool the previous draw built from the same
    config: a run's train800 and val200 come from one pool, and a generated
    pool costs seconds to draw. Only the latest pool is kept."""
    if not isinstance(dataset, dict):
        return dataset
    key = json.dumps(dataset, sort_keys=True, default=repr)
    if key not in _POOL:
        _POOL.clear()
        _POOL[key] = DATASETS.build(dataset)
    return _POOL[key]


@DATASETS.register_module()
class VTAB1kDraw(ClassBalancedSubset):
    """VTAB-1k's training splits drawn from any labelled dataset.

    ``train800``, ``val200`` and ``train800val200`` of a class-balanced
    draw of 1,000 items (:func:`vtab1k_draw`), fresh for every ``seed``:
    offline tasks get VTAB-1k's form, and the seed spread of a study covers
    the choice of training images as well as the training itself.

    Args:
        dataset (dict | BaseDataset): The labelled pool to draw from (its
            training split).
        split (str): ``'train800'``, ``'val200'`` or ``'train800val200'``.
        seed (int): Seed of the draw. Defaults to 0.
        num_train (int): Size of the training part. Defaults to 800.
        num_val (int): Size of the validation part. Defaults to 200.
    """
    SPLITS = ('train800', 'val200', 'train800val200')

    def __init__(self,
                 dataset,
                 split: str = 'train800',
                 seed: int = 0,
                 num_train: int = 800,
                 num_val: int = 200):
        if split not in self.SPLITS:
            raise ValueError(
                f'split must be one of {self.SPLITS}, got {split!r}')
        for name, value in (('num_train', num_train), ('num_val', num_val)):
            if isinstance(value,
                          bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be an int >= 1, got {value!r}')
        super().__init__(_shared_pool(dataset), fraction=1, seed=seed)
        train, val = vtab1k_draw(self.dataset.get_gt_labels(), seed, num_train,
                                 num_val)
        self.split = split
        self.indices = dict(
            train800=train, val200=val, train800val200=np.union1d(train,
                                                                  val))[split]
