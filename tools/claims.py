"""Which claims of the papers hold: the claims study: ``python tools/claims.py
--help``; the logic is :mod:`mmprompt.evaluation.claims`."""
from mmprompt.evaluation.claims import main

if __name__ == '__main__':
    main()
