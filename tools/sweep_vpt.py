"""VPT's lr x weight-decay sweep on train800 / val200, then the final runs:
``python tools/sweep_vpt.py --help``; the logic is
:mod:`mmprompt.methods.vpt.sweep`."""
import sys

from mmprompt.methods.vpt.sweep import main

if __name__ == '__main__':
    sys.exit(main())
