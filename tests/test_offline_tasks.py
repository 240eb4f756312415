"""The offline VTAB-like tasks: determinism, labels that mean what they say,
balance, and VTAB-1k's draw."""
import math

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from mmprompt.datasets import (STRUCTURED_TASKS, StampObjects,
                               StructuredShapes, VTAB1kDraw, vtab1k_draw)
from mmprompt.datasets.structured_shapes import SHAPES
from mmprompt.registry import DATASETS


def foreground(img):
    """Pixels that differ from the background (the border's median) by more
    than the noise (+-8 per channel) can explain."""
    img = img.astype(np.int32)
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    background = np.median(border, axis=0)
    return np.abs(img - background).sum(-1) > 60


def images(task, n=48, **kw):
    ds = StructuredShapes(task, num_images=n, **kw)
    return [(ds.get_data_info(i)['img'], ds.get_data_info(i)['gt_label'])
            for i in range(n)]


def test_same_arguments_same_images_and_splits_differ():
    a = images('count', 8, seed=3)
    b = images('count', 8, seed=3)
    assert all(np.array_equal(x, y) for (x, _), (y, _) in zip(a, b))
    test = images('count', 8, seed=3, split='test')
    other = images('count', 8, seed=4)
    assert not any(np.array_equal(x, y) for (x, _), (y, _) in zip(a, test))
    assert not any(np.array_equal(x, y) for (x, _), (y, _) in zip(a, other))


@pytest.mark.parametrize('task', list(STRUCTURED_TASKS))
def test_labels_cycle_through_the_classes(task):
    num_classes = STRUCTURED_TASKS[task][0]
    ds = StructuredShapes(task, num_images=3 * num_classes, img_size=48)
    labels = ds.get_gt_labels()
    assert np.array_equal(np.bincount(labels), [3] * num_classes)
    assert len(ds.metainfo['classes']) == num_classes
    img = ds.get_data_info(0)['img']
    assert img.shape == (48, 48, 3) and img.dtype == np.uint8


def test_count_is_the_number_of_shapes():
    for img, label in images('count'):
        parts, _ = ndimage.label(foreground(img))
        # a shape is 30 px or more; a sharp corner may leave a lone pixel
        sizes = np.bincount(parts.ravel())[1:]
        assert (sizes >= 5).sum() == label + 3


def test_location_is_the_grid_cell_of_the_shape():
    for img, label in images('location'):
        ys, xs = np.nonzero(foreground(img))
        # the centre of the drawn shape's bounding box, in 21-px cells
        cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
        assert (int(cy // 21), int(cx // 21)) == divmod(label, 4)


def test_orientation_is_where_the_arrow_points():
    for img, label in images('orientation', 64):
        ys, xs = np.nonzero(foreground(img))
        pts = np.stack([xs, -ys], 1).astype(float)  # y up: angles as drawn
        centred = pts - pts.mean(0)
        axis = np.linalg.svd(centred, full_matrices=False)[2][0]
        along = pts @ axis
        # the arrow spans [-r, r] along its axis, its head [0, r]: the outer
        # half of the head (up to 0.3 r across) is wider than the shaft's
        # (0.12 r)
        across = np.abs(centred @ np.array([-axis[1], axis[0]]))
        mid, r = (along.min() + along.max()) / 2, np.ptp(along) / 2
        if across[along < mid - r / 2].max() > across[along > mid +
                                                      r / 2].max():
            axis = -axis
        angle = math.atan2(axis[1], axis[0]) % (2 * math.pi)
        found = angle / (2 * math.pi / 16)
        # pixels blur the angle by about a degree: a bin edge may tip over
        diff = (found - (label + .5) + 8) % 16 - 8
        assert abs(diff) < .5 + 2 / 22.5, (label, found)


def test_distance_is_the_depth_bin_of_the_nearest_shape():
    for img, label in images('distance', 60):
        rows = np.nonzero(foreground(img).any(1))[0]
        lowest = rows.max() + 1  # the nearest shape stands on this line
        ground = (84 - 28) / 6
        found = (lowest - 28) / ground
        assert label - .1 < found < label + 1 + .1, (label, found)


def test_bad_arguments_name_the_field():
    with pytest.raises(ValueError, match="task must be one of .* 'size'"):
        StructuredShapes('size')
    with pytest.raises(ValueError, match="split must be .* 'val'"):
        StructuredShapes('count', split='val')
    with pytest.raises(ValueError, match='img_size must be an int >= 16'):
        StructuredShapes('count', img_size=8)


def test_vtab1k_draw_is_balanced_disjoint_and_fresh_per_seed():
    labels = np.arange(2000) % 6  # 6 classes: 800 / 6 and 200 / 6 uneven
    train, val = vtab1k_draw(labels, seed=0)
    assert len(train) == 800 and len(val) == 200
    assert not set(train) & set(val)
    for part, total in ((train, 800), (val, 200)):
        counts = np.bincount(labels[part], minlength=6)
        assert set(counts) <= {total // 6, total // 6 + 1}
    again, _ = vtab1k_draw(labels, seed=0)
    other, _ = vtab1k_draw(labels, seed=1)
    assert np.array_equal(train, again)
    assert len(set(train) & set(other)) < 600  # a fresh draw, not the same
    with pytest.raises(ValueError, match='class 0 has 10 items'):
        vtab1k_draw(np.arange(60) % 6, seed=0)


def test_vtab1k_draw_dataset_splits():
    pool = dict(
        type='mmprompt.StructuredShapes',
        task='location',
        num_images=160,
        img_size=32)
    parts = {
        split:
        DATASETS.build(
            dict(
                type='mmprompt.VTAB1kDraw',
                dataset=pool,
                split=split,
                seed=2,
                num_train=64,
                num_val=32))
        for split in VTAB1kDraw.SPLITS
    }
    assert [len(parts[s]) for s in VTAB1kDraw.SPLITS] == [64, 32, 96]
    assert np.array_equal(
        np.sort(
            np.concatenate(
                [parts['train800'].indices, parts['val200'].indices])),
        parts['train800val200'].indices)
    assert np.array_equal(
        np.bincount(parts['train800'].get_gt_labels()), [4] * 16)
    assert parts['val200'][0]['img'].shape == (32, 32, 3)
    # one pool per config: the splits share it, another config builds its own
    assert parts['train800'].dataset is parts['val200'].dataset
    other = VTAB1kDraw(
        dict(pool, seed=1), split='val200', seed=2, num_train=64, num_val=32)
    assert other.dataset is not parts['val200'].dataset
    assert not np.array_equal(other[0]['img'], parts['val200'][0]['img'])
    with pytest.raises(ValueError, match="split must be one of .* 'test'"):
        VTAB1kDraw(pool, split='test')


@pytest.fixture
def stamps(tmp_path):
    """Stand-in stamps: opaque rectangles of distinct colours in two
    categories, plus what is left out (symbols, a small image)."""
    colours = iter([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0),
                    (255, 0, 255), (0, 255, 255), (255, 128, 0), (128, 0, 255),
                    (0, 128, 0)])
    for category, n in (('animals', 4), ('food', 3), ('symbols', 2)):
        folder = tmp_path / category / 'sub'
        folder.mkdir(parents=True)
        for i in range(n):
            Image.new('RGBA', (200, 160),
                      next(colours) + (255, )).save(folder /
                                                    f'{category}{i}.png')
    Image.new('RGBA', (40, 40)).save(tmp_path / 'animals' / 'small.png')
    return tmp_path


def test_stamp_objects_choose_in_turn_and_render_deterministically(stamps):
    ds = StampObjects(
        data_root=str(stamps), num_classes=5, num_images=15, img_size=48)
    assert ds.metainfo['classes'] == ('animals0', 'food0', 'animals1', 'food1',
                                      'animals2')
    assert np.array_equal(np.bincount(ds.get_gt_labels()), [3] * 5)
    again = StampObjects(
        data_root=str(stamps), num_classes=5, num_images=15, img_size=48)
    test = StampObjects(
        data_root=str(stamps),
        num_classes=5,
        num_images=15,
        img_size=48,
        split='test')
    for i in range(15):
        img = ds.get_data_info(i)['img']
        assert img.shape == (48, 48, 3)
        assert np.array_equal(img, again.get_data_info(i)['img'])
        assert not np.array_equal(img, test.get_data_info(i)['img'])
    with pytest.raises(ValueError, match='num_classes=8 but .* only 7'):
        StampObjects(data_root=str(stamps), num_classes=8)
    with pytest.raises(FileNotFoundError, match='tuxpaint-stamps-default'):
        StampObjects(data_root=str(stamps / 'nothing'))


def test_stamp_label_is_the_largest_most_opaque_stamp(stamps):
    """The labelled stamp is drawn last, opaque and largest, near the
    centre: its colour is the image centre's."""
    ds = StampObjects(
        data_root=str(stamps), num_classes=5, num_images=10, img_size=64)
    colours = [
        np.asarray(Image.open(p).convert('RGB'))[80, 100]
        for p in ds.stamp_files
    ]
    for i in range(10):
        info = ds.get_data_info(i)
        centre = info['img'][32, 32].astype(int)
        # brightness and contrast scale it: compare the hue direction
        dist = [
            np.linalg.norm(centre / max(np.linalg.norm(centre), 1) -
                           c / max(np.linalg.norm(c), 1)) for c in colours
        ]
        assert int(np.argmin(dist)) == info['gt_label']


def test_shapes_are_the_documented_ones():
    assert SHAPES == ('circle', 'square', 'triangle')
