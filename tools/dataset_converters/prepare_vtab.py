"""Build the 19 VTAB-1k task folders from TFDS with VTAB-1k's own splits
and labels: ``python tools/dataset_converters/prepare_vtab.py --help``; the
logic is :mod:`mmprompt.datasets.prepare_vtab`."""
import sys

from mmprompt.datasets.prepare_vtab import main

if __name__ == '__main__':
    sys.exit(main())
