"""Which claims of the papers hold: the claims study: ``python tools/claims.py
--help``; the logic is :mod:`mmprompt.evaluation.claims`."""
import sys

from mmprompt.evaluation.claims import main

if __name__ == '__main__':
    sys.exit(main())
