"""Check a VTAB-1k folder before training.

Usage::

    python tools/dataset_converters/check_vtab.py DATA_ROOT [--tasks T ...]
        [--no-files]

For every task (default: all 19) it checks that ``DATA_ROOT/<task>`` holds
``train800.txt`` (800 lines), ``val200.txt`` (200), ``train800val200.txt``
(1000, the union of the two) and ``test.txt``, that every label is an
integer inside the task's class count and that every listed image exists.
It prints one line per task (``OK`` with the split sizes, or each problem
with file and line) and exits with 1 if anything is wrong.
"""
import argparse
import os.path as osp

from mmprompt.datasets.vtab1k import (VTAB1K_SPLITS, VTAB1K_TASKS,
                                      read_split_list, vtab_task_dir)


def check_task(data_root, task, check_files=True):
    """``(problems, sizes)`` of one task folder."""
    problems = []
    sizes = {}
    task_dir = vtab_task_dir(data_root, task)
    if not osp.isdir(task_dir):
        return [f'task folder not found: {task_dir}'], sizes
    lists = {}
    for split, expected in VTAB1K_SPLITS.items():
        path = osp.join(task_dir, f'{split}.txt')
        items = read_split_list(
            path, VTAB1K_TASKS[task], task_dir, check_files, errors=problems)
        if not osp.isfile(path):
            continue
        lists[split] = items
        sizes[split] = len(items)
        with open(path, encoding='utf-8') as f:
            lines = sum(1 for line in f if line.strip())
        if expected is not None and lines != expected:
            problems.append(f'{path}: {lines} lines, expected {expected}')
        elif expected is None and lines == 0:
            problems.append(f'{path}: no line')
    if all(s in lists for s in ('train800', 'val200', 'train800val200')):
        union = sorted(lists['train800'] + lists['val200'])
        if sorted(lists['train800val200']) != union:
            problems.append(
                f'{osp.join(task_dir, "train800val200.txt")}: not the union '
                'of train800.txt and val200.txt')
    return problems, sizes


def main(argv=None):
    parser = argparse.ArgumentParser(description='Check a VTAB-1k folder.')
    parser.add_argument('data_root')
    parser.add_argument(
        '--tasks',
        nargs='+',
        default=list(VTAB1K_TASKS),
        help='default: all 19 tasks')
    parser.add_argument(
        '--no-files',
        action='store_true',
        help='do not check that the images exist')
    args = parser.parse_args(argv)
    unknown = [t for t in args.tasks if t not in VTAB1K_TASKS]
    if unknown:
        parser.error(f'unknown task(s) {unknown}; the 19 tasks are: '
                     f'{", ".join(VTAB1K_TASKS)}')
    num_bad = 0
    for task in args.tasks:
        problems, sizes = check_task(args.data_root, task, not args.no_files)
        if problems:
            num_bad += 1
            print(f'{task}: {len(problems)} problem(s)')
            for p in problems:
                print(f'  - {p}')
        else:
            print(f'{task}: OK (' + ', '.join(f'{k} {v}'
                                              for k, v in sizes.items()) + ')')
    print(f'{len(args.tasks) - num_bad}/{len(args.tasks)} tasks OK')
    return 1 if num_bad else 0
