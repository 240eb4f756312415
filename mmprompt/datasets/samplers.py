from typing import Iterator, List

import numpy as np
from mmengine.dist import get_dist_info

from mmprompt.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class ClassSampledBatchSampler:
    """Batches of ``batch_size // samples_per_class`` classes with
    ``samples_per_class`` images each (the released DA-VPT code's
    ``class_sampler``).

    Every batch draws its classes without replacement (with repeats only
    when it needs more classes than there are), and each class its images
    without replacement (repeats only for a class with fewer images). An
    epoch has ``len(dataset) // (batch_size * world_size)`` batches per
    rank, as the released sampler's ``num_imgs // batch_size`` on one GPU.
    The draws are seeded by the wrapped sampler's seed and epoch (mmengine's
    ``DefaultSampler``, whose ``set_epoch`` ``DistSamplerSeedHook`` calls)
    and the rank, so a run, a resumed run and every rank are reproducible;
    the released sampler draws from Python's global ``random``.

    In a config::

        train_dataloader = dict(
            batch_size=32,
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_sampler=dict(type='mmprompt.ClassSampledBatchSampler',
                               samples_per_class=2))

    Args:
        sampler: The dataloader's sampler (mmengine passes it); its
            ``dataset`` gives the labels (``get_gt_labels()``).
        batch_size (int): Images per batch (mmengine passes it).
        samples_per_class (int): Images of one class in a batch; divides
            ``batch_size``. Defaults to 2 (the released default).
    """

    def __init__(self, sampler, batch_size: int, samples_per_class: int = 2):
        if not isinstance(samples_per_class, int) or samples_per_class < 1:
            raise ValueError(f'samples_per_class must be an int >= 1, got '
                             f'{samples_per_class!r}')
        if batch_size % samples_per_class:
            raise ValueError(
                f'samples_per_class={samples_per_class} must divide '
                f'batch_size={batch_size}')
        dataset = sampler.dataset
        if not hasattr(dataset, 'get_gt_labels'):
            raise TypeError(
                f'ClassSampledBatchSampler needs a labelled dataset '
                f'(get_gt_labels()), got {type(dataset).__name__}')
        labels = np.asarray(dataset.get_gt_labels())
        self.images_of_class: List[np.ndarray] = [
            np.flatnonzero(labels == c) for c in np.unique(labels)
        ]
        self.sampler = sampler
        self.batch_size = batch_size
        self.samples_per_class = samples_per_class
        self.rank, world_size = get_dist_info()
        self.num_batches = len(labels) // (batch_size * world_size)
        if self.num_batches == 0:
            raise ValueError(
                f'{len(labels)} images make no batch of {batch_size} on '
                f'{world_size} process(es)')

    def __len__(self) -> int:
        return self.num_batches

    @staticmethod
    def _draw(rng, values: np.ndarray, n: int) -> np.ndarray:
        """n of ``values``: without replacement where n allows, else every
        value ``n // len`` times plus a random rest, shuffled."""
        if n <= len(values):
            return rng.choice(values, n, replace=False)
        out = np.concatenate([
            np.tile(values, n // len(values)),
            rng.choice(values, n % len(values), replace=False)
        ])
        rng.shuffle(out)
        return out

    def __iter__(self) -> Iterator[List[int]]:
        seed = getattr(self.sampler, 'seed', 0)
        epoch = getattr(self.sampler, 'epoch', 0)
        rng = np.random.default_rng([seed, epoch, self.rank])
        classes = np.arange(len(self.images_of_class))
        per_batch = self.batch_size // self.samples_per_class
        for _ in range(self.num_batches):
            batch = []
            for c in self._draw(rng, classes, per_batch):
                batch.extend(
                    self._draw(rng, self.images_of_class[c],
                               self.samples_per_class).tolist())
            yield batch
