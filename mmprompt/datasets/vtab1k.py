"""VTAB-1k as image folders with split lists (the NOAH/SPT layout).

``<data_root>/<task>/{train800,val200,train800val200,test}.txt``, one image a
line: ``relative_path label`` (the path relative to ``<data_root>/<task>``).
"""
import os.path as osp
from typing import Dict, List, Optional, Tuple

from mmpretrain.datasets import BaseDataset

from mmprompt.registry import DATASETS

# task -> number of classes, in VTAB's group order.
VTAB1K_TASKS: Dict[str, int] = {
    # natural
    'caltech101': 102,
    'cifar100': 100,
    'dtd': 47,
    'oxford_flowers102': 102,
    'oxford_iiit_pet': 37,
    'svhn': 10,
    'sun397': 397,
    # specialized
    'patch_camelyon': 2,
    'eurosat': 10,
    'resisc45': 45,
    'diabetic_retinopathy': 5,
    # structured
    'clevr_count': 8,
    'clevr_dist': 6,
    'dmlab': 6,
    'kitti': 4,
    'dsprites_loc': 16,
    'dsprites_ori': 16,
    'smallnorb_azi': 18,
    'smallnorb_ele': 9,
}
VTAB1K_GROUPS: Dict[str, Tuple[str, ...]] = {
    'natural': ('caltech101', 'cifar100', 'dtd', 'oxford_flowers102',
                'oxford_iiit_pet', 'svhn', 'sun397'),
    'specialized':
    ('patch_camelyon', 'eurosat', 'resisc45', 'diabetic_retinopathy'),
    'structured':
    ('clevr_count', 'clevr_dist', 'dmlab', 'kitti', 'dsprites_loc',
     'dsprites_ori', 'smallnorb_azi', 'smallnorb_ele'),
}
# split -> number of lines of VTAB-1k (test sizes differ per task)
VTAB1K_SPLITS: Dict[str, Optional[int]] = {
    'train800': 800,
    'val200': 200,
    'train800val200': 1000,
    'test': None,
}
# Folder names other releases use for a task (NOAH's archive: 'cifar').
TASK_DIR_ALIASES = {'cifar100': ('cifar', )}


def check_vtab_task(task: str) -> int:
    """The class count of ``task``; a clear error for an unknown name."""
    if task not in VTAB1K_TASKS:
        raise ValueError(f'Unknown VTAB-1k task {task!r}; the 19 tasks are: '
                         f'{", ".join(VTAB1K_TASKS)}')
    return VTAB1K_TASKS[task]


def vtab_task_dir(data_root: str, task: str) -> str:
    """``<data_root>/<task>``, or an existing alias folder of the task."""
    task_dir = osp.join(data_root, task)
    if not osp.isdir(task_dir):
        for alias in TASK_DIR_ALIASES.get(task, ()):
            if osp.isdir(osp.join(data_root, alias)):
                return osp.join(data_root, alias)
    return task_dir


def read_split_list(
        path: str,
        num_classes: int,
        img_root: str,
        check_files: bool = True,
        errors: Optional[List[str]] = None) -> List[Tuple[str, int]]:
    """Parse a ``relative_path label`` list.

    Every problem names the file, the line number and the offending value.
    Without ``errors`` the first problem raises (``FileNotFoundError`` for a
    missing list or image, ``ValueError`` otherwise); with a list, problems
    are appended to it and parsing goes on (used by the folder checker).

    Returns:
        list[tuple[str, int]]: ``(relative_path, label)`` per line.
    """

    def fail(exc_type, msg):
        if errors is None:
            raise exc_type(msg)
        errors.append(msg)

    if not osp.isfile(path):
        fail(FileNotFoundError, f'split file not found: {path}')
        return []
    items = []
    missing = []
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2:
                fail(
                    ValueError, f'{path}:{lineno}: expected '
                    f"'relative_path label', got {line!r}")
                continue
            rel, label = parts
            try:
                label = int(label)
            except ValueError:
                fail(ValueError, f'{path}:{lineno}: label {label!r} is not '
                     'an integer')
                continue
            if not 0 <= label < num_classes:
                fail(
                    ValueError, f'{path}:{lineno}: label {label} is outside '
                    f'the {num_classes} classes (valid: 0..'
                    f'{num_classes - 1})')
                continue
            if check_files and not osp.isfile(osp.join(img_root, rel)):
                missing.append((lineno, rel))
            items.append((rel, label))
    if missing:
        lineno, rel = missing[0]
        more = f' ({len(missing) - 1} more missing)' if len(missing) > 1 \
            else ''
        fail(
            FileNotFoundError,
            f'{path}:{lineno}: image {rel!r} does not exist '
            f'(looked for {osp.join(img_root, rel)}){more}')
    return items


@DATASETS.register_module()
class VTAB1kDataset(BaseDataset):
    """One VTAB-1k task read from its split list.

    Layout: ``<data_root>/<task>/<split>.txt`` with lines ``relative_path
    label``, paths relative to ``<data_root>/<task>`` (for ``cifar100`` a
    folder named ``cifar``, as in NOAH's archive, is used if ``cifar100``
    is absent). Items are ``dict(img_path, gt_label)`` for mmpretrain's
    ``LoadImageFromFile``.

    Args:
        data_root (str): Folder holding one sub-folder per task.
        task (str): One of :data:`VTAB1K_TASKS`.
        split (str): ``'train800'``, ``'val200'``, ``'train800val200'`` or
            ``'test'``. Defaults to ``'train800val200'``.
        check_files (bool): Check that every listed image exists (an error
            names the first missing one with its line). Defaults to True.
        **kwargs: Arguments of :class:`mmpretrain.datasets.BaseDataset`.
    """

    def __init__(self,
                 data_root: str,
                 task: str,
                 split: str = 'train800val200',
                 check_files: bool = True,
                 **kwargs):
        self.num_classes = check_vtab_task(task)
        if split not in VTAB1K_SPLITS:
            raise ValueError(f'Unknown VTAB-1k split {split!r}; choose from '
                             f'{tuple(VTAB1K_SPLITS)}')
        self.task = task
        self.split = split
        self.check_files = check_files
        kwargs.setdefault(
            'metainfo',
            dict(classes=tuple(str(i) for i in range(self.num_classes))))
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        task_dir = vtab_task_dir(self.data_root, self.task)
        if not osp.isdir(task_dir):
            raise FileNotFoundError(
                f'VTAB-1k task folder not found: {task_dir} (data_root='
                f'{self.data_root!r}, task={self.task!r})')
        path = osp.join(task_dir, f'{self.split}.txt')
        items = read_split_list(path, self.num_classes, task_dir,
                                self.check_files)
        if not items:
            raise ValueError(f'split file {path} lists no image')
        return [
            dict(img_path=osp.join(task_dir, rel), gt_label=label)
            for rel, label in items
        ]
