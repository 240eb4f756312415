"""Generated structured tasks of VTAB-1k's kind: count, location,
orientation and distance of shapes on a canvas.

VTAB's structured group (CLEVR count and distance, dSprites location and
orientation, ...) is where visual prompts gain most over a linear probe in
the VPT paper (linear 26.8 vs VPT-Deep 55.0 mean). These tasks ask the same
questions of images drawn here, deterministically from a seed, so that a
study of prompt tuning can run where no dataset can be downloaded.
"""
import math
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw

from mmprompt.registry import DATASETS
from .generated_task import GeneratedTask

# task: (number of classes, what a label means)
STRUCTURED_TASKS = {
    'count': (8, 'the number of shapes, 3 to 10 (CLEVR count)'),
    'location': (16, 'the cell of a 4 x 4 grid holding the shape '
                 '(dSprites location)'),
    'orientation': (16, 'the direction of an arrow in 22.5-degree bins '
                    '(dSprites orientation)'),
    'distance': (6, 'the depth bin of the nearest shape on a ground plane '
                 'seen in perspective (CLEVR distance)'),
}
SHAPES = ('circle', 'square', 'triangle')
# lowest point of an upright shape below its centre, in radii
_BOTTOM = {'circle': 1., 'square': math.sqrt(.5), 'triangle': .5}
_TASK_CODES = {task: i for i, task in enumerate(STRUCTURED_TASKS)}


def _color(rng: np.random.Generator, avoid=None) -> tuple:
    """A saturated colour, at least 100 (L1 over RGB) from ``avoid``."""
    while True:
        c = rng.integers(0, 256, 3)
        if avoid is None or np.abs(c - avoid).sum() >= 100:
            return tuple(int(v) for v in c)


def _shape(draw: ImageDraw.ImageDraw,
           kind: str,
           cx: float,
           cy: float,
           r: float,
           fill: tuple,
           angle: float = 0.) -> None:
    if kind == 'circle':
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        return
    corners = 4 if kind == 'square' else 3
    start = angle + (math.pi / 4 if corners == 4 else -math.pi / 2)
    points = [(cx + r * math.cos(start + 2 * math.pi * k / corners),
               cy + r * math.sin(start + 2 * math.pi * k / corners))
              for k in range(corners)]
    draw.polygon(points, fill=fill)


def _arrow(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float,
           angle: float, fill: tuple) -> None:
    """An arrow of length ``2 r`` pointing at ``angle`` (radians, 0 = to the
    right, counter-clockwise as seen): its head tells 0 from 180 degrees."""
    u = np.array([math.cos(angle), -math.sin(angle)])  # image y points down
    v = np.array([-u[1], u[0]])
    c = np.array([cx, cy])
    # a thin shaft behind a wide head
    outline = [
        c - r * u + .12 * r * v, c + .12 * r * v, c + .6 * r * v, c + r * u,
        c - .6 * r * v, c - .12 * r * v, c - r * u - .12 * r * v
    ]
    draw.polygon([tuple(p) for p in outline], fill=fill)


def render(task: str, label: int, rng: np.random.Generator,
           img_size: int) -> np.ndarray:
    """One ``(img_size, img_size, 3)`` uint8 image of ``task`` whose answer
    is ``label``; everything else (colours, shapes, sizes, positions) is
    drawn from ``rng``."""
    s = img_size
    background = rng.integers(0, 256, 3)
    img = Image.new('RGB', (s, s), tuple(int(v) for v in background))
    draw = ImageDraw.Draw(img)
    if task == 'count':
        placed = []
        while len(placed) < label + 3:  # non-overlapping, inside the canvas
            r = rng.uniform(.05, .08) * s
            cx, cy = rng.uniform(r, s - r, 2)
            if all((cx - x)**2 + (cy - y)**2 > (r + q + 3)**2
                   for x, y, q in placed):
                placed.append((cx, cy, r))
                _shape(draw, SHAPES[rng.integers(3)], cx, cy, r,
                       _color(rng, background), rng.uniform(0, 2 * math.pi))
    elif task == 'location':
        cell = s / 4
        r = rng.uniform(.06, .1) * s
        row, col = divmod(label, 4)
        # the centre anywhere in its cell (the label), the shape inside
        # the canvas
        cx = rng.uniform(max(col * cell, r), min((col + 1) * cell, s - r))
        cy = rng.uniform(max(row * cell, r), min((row + 1) * cell, s - r))
        _shape(draw, SHAPES[rng.integers(3)], cx, cy, r,
               _color(rng, background), rng.uniform(0, 2 * math.pi))
    elif task == 'orientation':
        r = rng.uniform(.22, .32) * s
        cx, cy = rng.uniform(r, s - r, 2)
        angle = (label + rng.uniform(0, 1)) * 2 * math.pi / 16
        _arrow(draw, cx, cy, r, angle, _color(rng, background))
    elif task == 'distance':
        # ground from the horizon (a third down) to the bottom; a shape's
        # size grows with its nearness; the label bins the nearest's base
        horizon = s / 3

        def base_to_radius(y):
            return s * (.03 + .09 * (y - horizon) / (s - horizon))

        ground = (s - horizon) / 6
        nearest = horizon + (label + rng.uniform(0, 1)) * ground
        bases = [nearest] + list(
            rng.uniform(horizon, nearest, rng.integers(2, 5)))
        for y in sorted(bases):  # far ones first: near ones cover them
            r = base_to_radius(y)
            cx = rng.uniform(r, s - r)
            kind = SHAPES[rng.integers(3)]
            # the shape stands on y: its lowest point there
            _shape(draw, kind, cx, y - r * _BOTTOM[kind], r,
                   _color(rng, background))
    else:
        raise ValueError(f'task must be one of {tuple(STRUCTURED_TASKS)}, '
                         f'got {task!r}')
    pixels = np.asarray(img, dtype=np.int16)
    noise = rng.integers(-8, 9, pixels.shape)  # sensor-like noise
    return np.clip(pixels + noise, 0, 255).astype(np.uint8)


@DATASETS.register_module()
class StructuredShapes(GeneratedTask):
    """A generated structured task (count, location, orientation, distance).

    Deterministic and class-balanced (:class:`GeneratedTask`; the task's
    code is in the generator's seed). Draw VTAB-1k's training splits from
    the ``'train'`` pool with :class:`mmprompt.VTAB1kDraw`.

    Tasks (:data:`STRUCTURED_TASKS`):

    - ``count``: 8 classes, 3 to 10 shapes (circles, squares, triangles).
    - ``location``: 16 classes, the 4 x 4 grid cell of one shape's centre.
    - ``orientation``: 16 classes, an arrow's direction in 22.5-degree bins.
    - ``distance``: 6 classes, the depth bin of the nearest of 3 to 5 shapes
      standing on a ground plane seen in perspective (nearer is lower and
      larger).

    Args:
        task (str): One of the tasks above.
        split (str): ``'train'`` (the pool) or ``'test'``.
        num_images (int, optional): Images in the split. Defaults to 2,000
            for ``'train'`` (enough for fresh 1,000-image draws) and 2,000
            for ``'test'``.
        img_size (int): Side of the square images. Defaults to 84.
        seed (int): Seed of the generator (not of a run). Defaults to 0.
        **kwargs: Arguments of :class:`mmpretrain.datasets.BaseDataset`.
    """

    def __init__(self,
                 task: str,
                 split: str = 'train',
                 num_images: Optional[int] = None,
                 img_size: int = 84,
                 seed: int = 0,
                 **kwargs):
        if task not in STRUCTURED_TASKS:
            raise ValueError(f'task must be one of '
                             f'{tuple(STRUCTURED_TASKS)}, got {task!r}')
        self.task = task
        num_classes = STRUCTURED_TASKS[task][0]
        kwargs.setdefault(
            'metainfo',
            dict(classes=tuple(f'{task}_{c}' for c in range(num_classes))))
        super().__init__(num_classes, split, num_images, img_size, seed,
                         (_TASK_CODES[task], ), **kwargs)

    def render(self, label: int, rng: np.random.Generator) -> np.ndarray:
        return render(self.task, label, rng, self.img_size)
