"""Cost of serving T tasks from one frozen ViT in one mixed batch.

    python tools/analysis/benchmark_serving.py [--tasks 1 3 10 30]
        [--batch 32] [--prompts 50] [--arch b] [--img-size 224]
        [--rounds 4] [--out costs.json]

Against one prompted model on a single-task batch (throughput ratio: 1 means
the mixed batch costs nothing more) and against each task's own model run
on its images one after the other; memory as the bytes of the bundle's
tensors beside one backbone + T x (prompts + head) + 10 %. Prints a Markdown
table (intervals: 95 % t over the rounds).
"""
import argparse
import json
import os.path as osp
import sys

try:
    import mmprompt  # noqa: F401
except ImportError:  # a source checkout that is not installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    import mmprompt  # noqa: F401

from mmprompt.serving.benchmark import costs_table  # noqa: E402
from mmprompt.serving.benchmark import mixed_batch_costs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tasks', type=int, nargs='+', default=[1, 3, 10, 30])
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--prompts', type=int, default=50)
    parser.add_argument('--arch', default='b')
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument('--rounds', type=int, default=4)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--out', help='write the rows as JSON')
    args = parser.parse_args(argv)
    if args.rounds < 2:
        parser.error(f'--rounds must be >= 2 for an interval, got '
                     f'{args.rounds}')
    rows = mixed_batch_costs(
        args.tasks,
        args.batch,
        args.prompts,
        args.arch,
        args.img_size,
        args.patch_size,
        rounds=args.rounds,
        warmup=args.warmup)
    print(costs_table(rows))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(args=vars(args), rows=rows), f, indent=1)
    return rows


if __name__ == '__main__':
    main()
