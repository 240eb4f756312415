"""A natural many-class task from the photo stamps Debian ships.

Debian's ``tuxpaint-stamps-default`` installs about 800 cut-out stamps
(photographs and drawings of animals, food, plants, vehicles, ... with an
alpha channel). Each image of this task shows one stamp, scaled, rotated,
flipped and re-lit, over a cluttered background made of other stamps; the
label is which stamp. It is the many-class natural task that can be built
without a download (DA-VPT's class-to-prompt mapping needs more classes
than prompts).
"""
import glob
import os.path as osp
from typing import List, Optional

import numpy as np
from PIL import Image, ImageEnhance

from mmprompt.registry import DATASETS
from .generated_task import GeneratedTask, check_int

DEBIAN_STAMPS = '/usr/share/tuxpaint/stamps'
# drawings, letters and symbols rather than photographs of things
_LEFT_OUT = ('symbols', 'cartoon', 'seasonal')


def list_stamps(root: str, num_classes: int, min_side: int = 150) -> list:
    """``num_classes`` stamp files under ``root``, taken in turn from each
    top-level category (sorted paths), leaving out drawings and symbols
    (``_LEFT_OUT``) and images whose longer side is below ``min_side``."""
    if not osp.isdir(root):
        raise FileNotFoundError(
            f'no stamps at data_root={root!r}: install them with '
            "'apt-get update && apt-get install tuxpaint-stamps-default' "
            f'(Debian puts them in {DEBIAN_STAMPS})')
    by_category = {}
    for path in sorted(
            glob.glob(osp.join(root, '**', '*.png'), recursive=True)):
        category = osp.relpath(path, root).split(osp.sep)[0]
        if category in _LEFT_OUT:
            continue
        with Image.open(path) as img:
            if max(img.size) < min_side or 'A' not in img.getbands():
                continue
        by_category.setdefault(category, []).append(path)
    chosen, queues = [], [list(v) for _, v in sorted(by_category.items())]
    while len(chosen) < num_classes and any(queues):
        for queue in queues:
            if queue and len(chosen) < num_classes:
                chosen.append(queue.pop(0))
    if len(chosen) < num_classes:
        raise ValueError(
            f'num_classes={num_classes} but {root} holds only '
            f'{len(chosen)} photo stamps of at least {min_side} px')
    return chosen


def _paste(canvas: Image.Image,
           stamp: Image.Image,
           size: float,
           rng: np.random.Generator,
           centre=None) -> None:
    """``stamp`` with its longer side ``size`` of the canvas, rotated,
    maybe flipped, pasted at ``centre`` (default: anywhere)."""
    s = canvas.size[0]
    angle, flip = rng.uniform(-25, 25), rng.random() < .5
    # scaled before it is rotated: rotating the small stamp is what keeps
    # drawing a pool of 2,000 images to a few seconds
    scale = size * s / max(stamp.size)
    stamp = stamp.resize((max(1, round(
        stamp.size[0] * scale)), max(1, round(stamp.size[1] * scale))),
                         Image.BILINEAR)
    stamp = stamp.rotate(angle, expand=True, resample=Image.BILINEAR)
    if flip:
        stamp = stamp.transpose(Image.FLIP_LEFT_RIGHT)
    w, h = stamp.size
    if centre is None:
        centre = rng.uniform(0, s, 2)
    canvas.paste(stamp, (int(centre[0] - w / 2), int(centre[1] - h / 2)),
                 stamp)


def render(stamps: list, clutter: list, label: int, rng: np.random.Generator,
           img_size: int) -> np.ndarray:
    """One image of stamp ``label`` over a clutter of 3 to 5 other stamps
    (``clutter``: the stamps half-transparent; each small or cut by the
    border)."""
    s = img_size
    canvas = Image.new('RGB', (s, s),
                       tuple(int(v) for v in rng.integers(0, 256, 3)))
    others = [i for i in range(len(stamps)) if i != label]
    num_clutter = min(int(rng.integers(3, 6)), len(others))
    for i in rng.choice(others, num_clutter, replace=False):
        _paste(canvas, clutter[i], rng.uniform(.3, .6), rng)
    _paste(
        canvas,
        stamps[label],
        rng.uniform(.55, .9),
        rng,
        centre=rng.uniform(.35 * s, .65 * s, 2))
    canvas = ImageEnhance.Brightness(canvas).enhance(rng.uniform(.7, 1.3))
    canvas = ImageEnhance.Contrast(canvas).enhance(rng.uniform(.7, 1.3))
    return np.asarray(canvas, dtype=np.uint8).copy()


@DATASETS.register_module()
class StampObjects(GeneratedTask):
    """Which photo stamp is in the image, among ``num_classes``.

    Deterministic and class-balanced (:class:`GeneratedTask`). Draw
    VTAB-1k's training splits from the ``'train'`` pool with
    :class:`mmprompt.VTAB1kDraw`.

    Args:
        data_root (str): The stamps folder. Defaults to Debian's
            ``/usr/share/tuxpaint/stamps``.
        split (str): ``'train'`` (the pool) or ``'test'``.
        num_classes (int): Stamps to tell apart (:func:`list_stamps`
            chooses them). Defaults to 24.
        num_images (int, optional): Images in the split. Defaults to 2,000.
        img_size (int): Side of the square images. Defaults to 84.
        seed (int): Seed of the generator (not of a run). Defaults to 0.
        **kwargs: Arguments of :class:`mmpretrain.datasets.BaseDataset`.
    """

    def __init__(self,
                 data_root: str = DEBIAN_STAMPS,
                 split: str = 'train',
                 num_classes: int = 24,
                 num_images: Optional[int] = None,
                 img_size: int = 84,
                 seed: int = 0,
                 **kwargs):
        # the classes are listed before the base checks the rest
        self.stamp_files = list_stamps(
            data_root, check_int('num_classes', num_classes, 2))
        kwargs.setdefault(
            'metainfo',
            dict(
                classes=tuple(
                    osp.splitext(osp.basename(p))[0]
                    for p in self.stamp_files)))
        super().__init__(
            num_classes,
            split,
            num_images,
            img_size,
            seed,
            data_root=data_root,
            **kwargs)

    def render(self, label: int, rng: np.random.Generator) -> np.ndarray:
        return render(self._stamps, self._clutter, label, rng, self.img_size)

    def load_data_list(self) -> List[dict]:
        self._stamps = []
        for path in self.stamp_files:
            with Image.open(path) as img:
                stamp = img.convert('RGBA')
            # at most twice the canvas: rendering cost, not detail
            stamp.thumbnail((2 * self.img_size, 2 * self.img_size))
            self._stamps.append(stamp)
        self._clutter = []
        for stamp in self._stamps:
            half = stamp.copy()
            half.putalpha(half.getchannel('A').point(lambda a: a // 2))
            self._clutter.append(half)
        items = super().load_data_list()
        # the images are drawn: the stamps are not needed
        del self._stamps, self._clutter
        return items
