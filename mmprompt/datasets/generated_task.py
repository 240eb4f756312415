"""What the generated tasks share: deterministic images, cycling labels."""
from typing import List, Optional

import numpy as np
from mmpretrain.datasets import BaseDataset

SPLIT_CODES = {'train': 0, 'test': 1}


def check_int(name: str, value, low: int) -> int:
    """``value`` if it is an int (not a bool) of at least ``low``, else one
    error naming ``name`` and the value."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f'{name} must be an int >= {low}, got {value!r}')
    return value


class GeneratedTask(BaseDataset):
    """A task whose images are drawn, one per index, from a seeded generator.

    Image ``i`` of a split is drawn from ``np.random.default_rng([seed,
    split code, *rng_key, i])`` (:meth:`render`): the same arguments give the
    same images on every machine, and the train and test splits never share
    an image. Labels cycle through the classes (``i % num_classes``), so
    every split is class-balanced.

    Args:
        num_classes (int): Classes of the task.
        split (str): ``'train'`` (the pool) or ``'test'``.
        num_images (int, optional): Images in the split. Defaults to 2,000.
        img_size (int): Side of the square images.
        seed (int): Seed of the generator (not of a run).
        rng_key (tuple): More entropy for the generator (a task's code).
        **kwargs: Arguments of :class:`mmpretrain.datasets.BaseDataset`.
    """

    def __init__(self,
                 num_classes: int,
                 split: str,
                 num_images: Optional[int],
                 img_size: int,
                 seed: int,
                 rng_key: tuple = (),
                 **kwargs):
        if split not in SPLIT_CODES:
            raise ValueError(f'split must be one of {tuple(SPLIT_CODES)}, '
                             f'got {split!r}')
        num_images = 2000 if num_images is None else num_images
        check_int('num_classes', num_classes, 2)
        check_int('num_images', num_images, 1)
        check_int('img_size', img_size, 16)
        self.num_classes, self.split, self.seed = num_classes, split, seed
        self.num_images, self.img_size = num_images, img_size
        self.rng_key = tuple(rng_key)
        super().__init__(ann_file='', **kwargs)

    def render(self, label: int, rng: np.random.Generator) -> np.ndarray:
        """One ``(img_size, img_size, 3)`` uint8 image of class ``label``."""
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        items = []
        for i in range(self.num_images):
            rng = np.random.default_rng(
                [self.seed, SPLIT_CODES[self.split], *self.rng_key, i])
            label = i % self.num_classes
            items.append(dict(img=self.render(label, rng), gt_label=label))
        return items
