"""Check BPT's whitening matrices of a checkpoint against a refit: ``python
tools/analysis/check_whitening.py --help``; the logic is
:mod:`mmprompt.methods.bpt.check`."""
from mmprompt.methods.bpt.check import main

if __name__ == '__main__':
    main()
