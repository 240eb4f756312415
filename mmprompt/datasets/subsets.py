import copy
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
