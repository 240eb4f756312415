"""Check Prompt Condensation against a hand count on a checkpoint: ``python
tools/analysis/check_condensation.py --help``; the logic is
:mod:`mmprompt.methods.pc.check`."""
from mmprompt.methods.pc.check import main

if __name__ == '__main__':
    main()
