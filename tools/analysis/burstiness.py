"""BPT's burstiness statistics of a checkpoint's layers: ``python
tools/analysis/burstiness.py --help``; the logic is
:mod:`mmprompt.methods.bpt.burstiness_report`."""
from mmprompt.methods.bpt.burstiness_report import main

if __name__ == '__main__':
    main()
