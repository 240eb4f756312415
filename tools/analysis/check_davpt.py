"""Check DA-VPT's mapping and losses on a trained checkpoint: ``python
tools/analysis/check_davpt.py --help``; the logic is
:mod:`mmprompt.methods.davpt.check`."""
from mmprompt.methods.davpt.check import main

if __name__ == '__main__':
    main()
