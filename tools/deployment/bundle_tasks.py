"""Bundle prompt-tuned tasks that share one frozen backbone.

Usage::

    python tools/deployment/bundle_tasks.py OUT NAME=CONFIG:CHECKPOINT ...

Each CHECKPOINT is a full checkpoint of a run of CONFIG or a prompt-only
one (``tools/export_prompts.py``). OUT holds, per task, the config, the
prompt-only state and the class names, and the identity of the backbone
(a hash of its frozen weights); a task from another backbone is refused,
naming it. Serve it with ``tools/deployment/infer_tasks.py`` or
``mmprompt.serving.MultiTaskInferencer``.
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

from mmprompt.serving import ServingError, write_bundle  # noqa: E402
from mmprompt.utils.checkpoint_files import CheckpointFileError  # noqa: E402
from mmprompt.utils.checkpoint_files import CheckpointWriteError


def parse_task(spec: str):
    name, sep, rest = spec.partition('=')
    config, colon, checkpoint = rest.rpartition(':')
    if not (sep and colon and name and config and checkpoint):
        raise ServingError(f'task {spec!r}: expected NAME=CONFIG:CHECKPOINT')
    return name, (config, checkpoint)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', help='the bundle file to write')
    parser.add_argument('tasks', nargs='+', help='NAME=CONFIG:CHECKPOINT')
    args = parser.parse_args(argv)
    # the output is the predictions: loading's INFO lines (the checkpoint
    # format, the weight-init table) stay out of it
    MMLogger.get_instance('bundle_tasks', log_level='WARNING')
    tasks = {}
    for spec in args.tasks:
        name, source = parse_task(spec)
        if name in tasks:
            raise ServingError(f'task {name!r} is given twice')
        tasks[name] = source
    meta = write_bundle(args.out, tasks)
    print(f"wrote {args.out}: tasks {meta['tasks']}, backbone sha256 "
          f"{meta['backbone']['sha256'][:16]}...")


if __name__ == '__main__':
    try:
        main()
    except (ServingError, CheckpointFileError, CheckpointWriteError) as e:
        sys.exit(f'error: {e}')
