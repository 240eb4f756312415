"""Write VPT's FGVC split files from the datasets' own files: ``python
tools/dataset_converters/prepare_fgvc.py --help``; the logic is
:mod:`mmprompt.datasets.prepare_fgvc`."""
import sys

from mmprompt.datasets.prepare_fgvc import main

if __name__ == '__main__':
    sys.exit(main())
