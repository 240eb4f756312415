"""Speed and memory of the tuning methods on one backbone, in one process:
``python tools/benchmark.py --help``; what it measures and how is
documented in :mod:`mmprompt.evaluation.benchmark` and docs/benchmark.md."""
import sys

from mmprompt.evaluation.benchmark import main

if __name__ == '__main__':
    sys.exit(main())
