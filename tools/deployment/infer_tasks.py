"""Predict images of several tasks with one bundle, in one mixed batch.

Usage::

    python tools/deployment/infer_tasks.py BUNDLE --task NAME IMG [IMG ...] \
        [--task NAME IMG ...] [--device cpu]

Prints one line per image, in the order given: the image, its task, the
predicted class and its score.
"""
import argparse
import os.path as osp
import sys

try:
    import mmprompt  # noqa: F401  (types, checkpoint safe globals)
except ImportError:  # a source checkout that is not installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    import mmprompt  # noqa: F401

from mmengine.logging import MMLogger  # noqa: E402

from mmprompt.serving import MultiTaskInferencer, ServingError  # noqa: E402
from mmprompt.utils.checkpoint_files import CheckpointFileError  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('bundle')
    parser.add_argument(
        '--task',
        nargs='+',
        action='append',
        required=True,
        metavar=('NAME', 'IMG'),
        help='a task name and its images (repeat for other tasks)')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    # the output is the predictions: loading's INFO lines (the checkpoint
    # format, the weight-init table) stay out of it
    MMLogger.get_instance('infer_tasks', log_level='WARNING')
    images, tasks = [], []
    for name, *paths in args.task:
        if not paths:
            raise ServingError(f'task {name!r}: --task {name} names no image')
        images += paths
        tasks += [name] * len(paths)
    results = MultiTaskInferencer(args.bundle, args.device)(images, tasks)
    for path, r in zip(images, results):
        print(f"{path}\t{r['task']}\t{r['pred_class']}\t"
              f"{r['pred_score']:.4f}")
    return results


if __name__ == '__main__':
    try:
        main()
    except (ServingError, CheckpointFileError) as e:
        sys.exit(f'error: {e}')
