"""Condense the prompts of a trained checkpoint offline: ``python
tools/condense.py --help``; the logic is
:mod:`mmprompt.methods.pc.condense_checkpoint`."""
from mmprompt.methods.pc.condense_checkpoint import main

if __name__ == '__main__':
    main()
