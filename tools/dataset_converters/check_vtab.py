"""Check VTAB-1k folders before training: ``python
tools/dataset_converters/check_vtab.py --help``; the logic is
:mod:`mmprompt.datasets.check_vtab`."""
import sys

from mmprompt.datasets.check_vtab import main

if __name__ == '__main__':
    sys.exit(main())
