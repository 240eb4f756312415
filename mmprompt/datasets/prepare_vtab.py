"""Build the 19 VTAB-1k tasks from TensorFlow Datasets (TFDS).

Usage::

    pip install -e '.[vtab]'
    python tools/dataset_converters/prepare_vtab.py OUT [--tasks T ...]
        [--tfds-dir DIR] [--manual-dir DIR]

Each task becomes ``OUT/<task>/`` in the layout :class:`VTAB1kDataset`
reads (the layout of the widely shared vtab-1k archive): ``images/<split>/
<index>.png`` and the lists ``train800.txt``, ``val200.txt``,
``train800val200.txt`` (the two together) and ``test.txt``, one
``images/<split>/<index>.png label`` a line.

The splits and labels are VTAB-1k's own (google-research/task_adaptation,
``task_adaptation/data/*.py``): ``train800`` is the first 800 examples of
the TFDS training split; ``val200`` is 200 examples from the TFDS validation
split, or from where VTAB's own train/validation cut falls in the training
split; the labels of the derived tasks (CLEVR counts and distance bins,
dSprites position and orientation bins, sNORB azimuth and elevation, KITTI
distance bins) are computed as VTAB computes them (:data:`TASKS`).

Images are stored as PNG: lossless, so a stored image is exactly the pixels
TFDS decodes and VTAB's own pipeline feeds to the model. Re-encoding as JPEG
adds a second lossy pass over images that are often tiny (CIFAR's 32 px,
SVHN, dSprites' binary shapes) and has been reported to move VTAB-1k
results by several points.

A task is written to ``OUT/.<task>.partial`` and renamed to ``OUT/<task>``
when complete, with ``vtab_source.json`` recording where it came from: a
finished task is skipped when run again, an interrupted one starts over,
and a partly written task never looks complete.
"""
import argparse
import io
import json
import os
import os.path as osp
import shutil
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from .vtab1k import VTAB1K_TASKS

MANIFEST = 'vtab_source.json'
MANUAL_URL = 'https://www.tensorflow.org/datasets/catalog/{}'
# (TFDS split, first index, end index) of one VTAB-1k split
Slice = Tuple[str, int, int]


def head(split: str, num: int = 800):
    """The first ``num`` examples of ``split``."""
    return lambda counts: (split, 0, num)


def after_percent(split: str, percent: int, num: int = 200):
    """``num`` examples from VTAB's train/validation cut at ``percent`` of
    ``split`` (``percent * n // 100``, as task_adaptation computes it)."""

    def resolve(counts):
        start = percent * counts[split] // 100
        return split, start, start + num

    return resolve


def whole(split: str):
    return lambda counts: (split, 0, counts[split])


def from_percents(split: str, *percents: int):
    """From the sum of ``percent * n // 100`` over ``percents`` to the end
    (dSprites' 80 + 10, EuroSAT's and RESISC45's 60 + 20, sNORB's 50)."""

    def resolve(counts):
        n = counts[split]
        return split, sum(p * n // 100 for p in percents), n

    return resolve


def label_key(key: str = 'label'):
    return lambda ex: int(ex[key])


def clevr_count(ex) -> int:
    """Objects in the scene, 3 to 10, as 0 to 7."""
    return len(ex['objects']['size']) - 3


def _bin(value: float, thresholds) -> int:
    # VTAB: max(where(thresholds - value < 0))
    return int(np.flatnonzero(np.asarray(thresholds) - value < 0).max())


def clevr_distance(ex) -> int:
    """Depth of the closest object in 6 bins."""
    depth = float(np.min(ex['objects']['pixel_coords'][:, 2]))
    return _bin(depth, [0.0, 8.0, 8.5, 9.0, 9.5, 10.0, 100.0])


def kitti_distance(ex) -> int:
    """Distance of the closest car, van or truck in 3 bins, or 3: none."""
    objects = ex['objects']
    vehicles = np.asarray(objects['type']) < 3  # Car, Van, Truck
    depth = np.asarray(objects['location'], np.float32).reshape(-1, 3)
    dist = float(np.min(np.append(depth[vehicles, 2], 1000.0)))
    return _bin(dist, [-100.0, 8.0, 20.0, 999.0])


def dsprites_bins(key: str, num_values: int, num_classes: int):
    """dSprites' ``num_values`` values of ``key`` grouped into
    ``num_classes`` bins, in float32 as VTAB computes them."""
    factor = np.float32(num_values / num_classes)
    return lambda ex: int(np.floor(np.float32(ex[key]) / factor))


@dataclass(frozen=True)
class TaskSpec:
    """Where one VTAB-1k task comes from.

    Args:
        builder: TFDS builder, with its config and the version VTAB uses.
        train800, val200, test: The split's :data:`Slice` from the TFDS
            split sizes.
        label: The task's label of a TFDS example.
        scale: Multiplies the pixels (dSprites stores 0/1).
        manual: Files TFDS expects in its manual-download folder.
    """
    builder: str
    train800: Callable
    val200: Callable
    test: Callable
    label: Callable = label_key()
    scale: int = 1
    manual: Tuple[str, ...] = ()


def _in_train(percent, builder, **kwargs):
    """val200 at VTAB's cut of the training split, test the TFDS test."""
    return TaskSpec(builder, head('train'), after_percent('train', percent),
                    whole('test'), **kwargs)


def _in_validation(builder, **kwargs):
    """val200 the first 200 of TFDS's validation split, test the TFDS
    test."""
    return TaskSpec(builder, head('train'), head('validation', 200),
                    whole('test'), **kwargs)


def _clevr(label):
    """CLEVR's test is TFDS's validation split."""
    return TaskSpec(
        'clevr:3.*.*',
        head('train'),
        after_percent('train', 90),
        whole('validation'),
        label=label)


def _dsprites(key, num_values):
    return TaskSpec(
        'dsprites:2.*.*',
        head('train'),
        after_percent('train', 80),
        from_percents('train', 80, 10),
        label=dsprites_bins(key, num_values, 16),
        scale=255)


def _smallnorb(key):
    return TaskSpec('smallnorb:2.*.*', head('train'), head('test', 200),
                    from_percents('test', 50), label_key(key))


def _remote_sensing(builder, **kwargs):
    return TaskSpec(builder, head('train'), after_percent('train', 60),
                    from_percents('train', 60, 20), **kwargs)


TASKS: Dict[str, TaskSpec] = {
    'caltech101':
    _in_train(90, 'caltech101:3.*.*'),
    'cifar100':
    _in_train(90, 'cifar100:3.*.*'),
    'dtd':
    _in_validation('dtd:3.*.*'),
    'oxford_flowers102':
    _in_validation('oxford_flowers102:2.*.*'),
    # VTAB pins 3.*.*, which TFDS no longer ships; 4.0.0 has the same
    # trainval/test images
    'oxford_iiit_pet':
    _in_train(80, 'oxford_iiit_pet:4.*.*'),
    'svhn':
    _in_train(90, 'svhn_cropped:3.*.*'),
    'sun397':
    _in_validation('sun397/tfds:4.*.*'),
    'patch_camelyon':
    _in_validation('patch_camelyon:2.*.*'),
    'eurosat':
    _remote_sensing('eurosat/rgb:2.*.*'),
    'resisc45':
    _remote_sensing('resisc45:3.*.*', manual=('NWPU-RESISC45', )),
    # Kaggle's files, extracted (TFDS's instructions); its preparation
    # imports TensorFlow
    'diabetic_retinopathy':
    _in_validation(
        'diabetic_retinopathy_detection/btgraham-300:3.*.*',
        manual=('train', 'test', 'sample', 'trainLabels.csv')),
    'clevr_count':
    _clevr(clevr_count),
    'clevr_dist':
    _clevr(clevr_distance),
    'dmlab':
    _in_validation('dmlab:2.0.1'),
    'kitti':
    _in_validation('kitti:3.1.0', label=kitti_distance),
    'dsprites_loc':
    _dsprites('label_x_position', 32),
    'dsprites_ori':
    _dsprites('label_orientation', 40),
    'smallnorb_azi':
    _smallnorb('label_azimuth'),
    'smallnorb_ele':
    _smallnorb('label_elevation'),
}
SPLITS = ('train800', 'val200', 'test')
SPLIT_SIZES = dict(train800=800, val200=200)


def check_tasks(tasks: Sequence[str]) -> list:
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(
            f'VTAB-1k has no task {", ".join(map(repr, unknown))};'
            f' the 19 tasks are: {", ".join(TASKS)}')
    return list(tasks)


def resolve_splits(task: str, counts: Dict[str, int]) -> Dict[str, Slice]:
    """The task's three splits as ``(TFDS split, start, end)`` for the
    sizes ``counts`` of the TFDS splits; an error names a source too
    small."""
    spec = TASKS[task]
    out = {}
    for split in SPLITS:
        name, start, end = getattr(spec, split)(counts)
        if name not in counts:
            raise ValueError(f'{task}: the TFDS source has no {name!r} split '
                             f'(it has {", ".join(counts)})')
        want = SPLIT_SIZES.get(split, end - start)
        if end > counts[name] or end - start != want or want < 1:
            raise ValueError(
                f'{task}: {split} needs {name}[{start}:{end}] but the TFDS '
                f'{name!r} split has {counts[name]} examples')
        out[split] = (name, start, end)
    return out


def example_image(task: str, ex) -> np.ndarray:
    """The RGB uint8 image VTAB feeds to the model (gray images tiled to 3
    channels, dSprites' 0/1 scaled to 0/255)."""
    img = np.asarray(ex['image'])
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    img = img.astype(np.int64) * TASKS[task].scale
    if img.min() < 0 or img.max() > 255:
        raise ValueError(f'{task}: image values outside 0..255')
    return img.astype(np.uint8)


class TFDSSource:
    """The TFDS splits of a task's builder, prepared (downloaded) on first
    use as ArrayRecord files and read as random-access data sources, which
    needs no TensorFlow; TFDS's own preparation of some builders does.

    Args:
        data_dir (str, optional): TFDS's data folder (default TFDS's own,
            ``~/tensorflow_datasets``).
        manual_dir (str, optional): Where manual downloads lie (default
            ``<data_dir>/downloads/manual``).
    """

    def __init__(self,
                 data_dir: Optional[str] = None,
                 manual_dir: Optional[str] = None):
        try:  # optional: the [vtab] extra
            import tensorflow_datasets as tfds
        except ImportError as e:
            raise ImportError(
                'prepare_vtab reads TFDS: pip install -e ".[vtab]" '
                '(tensorflow-datasets and array-record)') from e
        self.tfds = tfds
        self.data_dir = data_dir
        self.manual_dir = manual_dir

    def open(self, task: str) -> Tuple[Dict[str, Sequence], str]:
        """``({TFDS split: data source}, version)`` of ``task``'s builder,
        prepared first if it is not."""
        spec = TASKS[task]
        builder = self.tfds.builder(spec.builder, data_dir=self.data_dir)
        if not builder.is_prepared():
            # TFDS's default manual folder
            manual_dir = self.manual_dir or osp.join(
                self.data_dir or os.environ.get(
                    'TFDS_DATA_DIR', osp.expanduser('~/tensorflow_datasets')),
                'downloads', 'manual')
            missing = [
                f for f in spec.manual
                if not osp.exists(osp.join(manual_dir, f))
            ]
            if missing:
                name = spec.builder.split(':')[0].split('/')[0]
                raise FileNotFoundError(
                    f'{task}: TFDS needs a manual download: '
                    f'{", ".join(missing)} in {manual_dir} (see '
                    f'{MANUAL_URL.format(name)}); or pass --manual-dir')
            builder.download_and_prepare(
                file_format='array_record',
                download_config=self.tfds.download.DownloadConfig(
                    manual_dir=manual_dir))
        names = list(
            builder.info.splits.keys()) or ['train', 'validation', 'test']
        return ({
            name: builder.as_data_source(split=name)
            for name in names
        }, str(builder.version))


def _manifest(task, source_version, splits):
    return dict(
        task=task,
        builder=TASKS[task].builder,
        version=source_version,
        splits={
            k: f'{n}[{a}:{b}]'
            for k, (n, a, b) in splits.items()
        },
        encoding='png')


def read_manifest(task_dir: str) -> Optional[dict]:
    path = osp.join(task_dir, MANIFEST)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def is_finished(task: str, out: str) -> bool:
    """Whether ``out/<task>`` is that task, written whole; an error when
    the folder exists but holds anything else."""
    task_dir = osp.join(out, task)
    if not osp.exists(task_dir):
        return False
    manifest = read_manifest(task_dir)
    if manifest is None or manifest.get('task') != task:
        found = 'no ' + MANIFEST if manifest is None else \
            f"{MANIFEST} of task {manifest.get('task')!r}"
        raise FileExistsError(
            f'{task}: {task_dir} exists but was not written by '
            f'prepare_vtab for {task} ({found}); move it away or choose '
            'another output folder')
    return True


def _png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format='PNG', compress_level=6)
    return buf.getvalue()


def prepare_task(task: str, out: str, sources: Dict[str, Sequence],
                 version: str) -> str:
    """Write ``task`` under ``out`` from ``sources`` (``{TFDS split: data
    source}``, e.g. :meth:`TFDSSource.open`); returns its folder. A
    finished task is left as it is."""
    check_tasks([task])
    task_dir = osp.join(out, task)
    if is_finished(task, out):
        return task_dir
    counts = {name: len(source) for name, source in sources.items()}
    splits = resolve_splits(task, counts)
    num_classes = VTAB1K_TASKS[task]
    os.makedirs(out, exist_ok=True)
    partial = osp.join(out, f'.{task}.partial')
    if osp.exists(partial):  # an interrupted run: start the task over
        shutil.rmtree(partial)
    _check_disk(task, out, sources, splits)
    lines = {}
    for split, (name, start, end) in splits.items():
        os.makedirs(osp.join(partial, 'images', split))
        lines[split] = []
        for i, index in enumerate(range(start, end)):
            ex = sources[name][index]
            label = TASKS[task].label(ex)
            if not 0 <= label < num_classes:
                raise ValueError(
                    f'{task}: {name}[{index}] has label {label}, outside its '
                    f'{num_classes} classes')
            rel = f'images/{split}/{i:06d}.png'
            with open(osp.join(partial, rel), 'wb') as f:
                f.write(_png(example_image(task, ex)))
            lines[split].append(f'{rel} {label}\n')
    lines['train800val200'] = lines['train800'] + lines['val200']
    for split, split_lines in lines.items():
        with open(osp.join(partial, f'{split}.txt'), 'w') as f:
            f.writelines(split_lines)
    with open(osp.join(partial, MANIFEST), 'w') as f:
        json.dump(_manifest(task, version, splits), f, indent=1)
    os.replace(partial, task_dir)
    return task_dir


def _check_disk(task, out, sources, splits, margin=1.5):
    """An error naming the task when ``out`` lacks room for it, estimated
    from the PNG size of up to 8 of its test images."""
    name, start, end = splits['test']
    sample = [
        len(_png(example_image(task, sources[name][i])))
        for i in range(start, min(end, start + 8))
    ]
    need = margin * np.mean(sample) * sum(b - a for _, a, b in splits.values())
    free = shutil.disk_usage(out).free
    if need > free:
        raise OSError(f'{task}: needs about {need / 2**30:.2f} GiB in {out} '
                      f'but {free / 2**30:.2f} GiB are free; free some space '
                      'or choose another output folder')


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Build VTAB-1k task folders from TFDS with VTAB-1k\'s '
        'own splits and labels.')
    parser.add_argument(
        'out',
        help='output folder (the data_root of the '
        'VTAB-1k configs, e.g. data/vtab-1k)')
    parser.add_argument(
        '--tasks', nargs='+', default=list(TASKS), help='default: all 19')
    parser.add_argument(
        '--tfds-dir', help="TFDS's data folder (default TFDS's own)")
    parser.add_argument(
        '--manual-dir',
        help='manual downloads (resisc45, diabetic_retinopathy); default '
        '<tfds-dir>/downloads/manual')
    args = parser.parse_args(argv)
    try:
        check_tasks(args.tasks)
    except ValueError as e:
        parser.error(str(e))
    os.makedirs(args.out, exist_ok=True)
    source = TFDSSource(args.tfds_dir, args.manual_dir)
    for task in args.tasks:
        task_dir = osp.join(args.out, task)
        if is_finished(task, args.out):  # before TFDS downloads anything
            print(f'{task}: done before ({task_dir})')
            continue
        prepare_task(task, args.out, *source.open(task))
        print(f'{task}: written to {task_dir}', flush=True)
    return 0
