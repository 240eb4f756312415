"""Summarise sweep runs into the FGVC / VTAB-1k table: ``python
tools/summarize_results.py --help``; the logic is
:mod:`mmprompt.evaluation.summarize_results`."""
import sys

from mmprompt.evaluation.summarize_results import main

if __name__ == '__main__':
    sys.exit(main())
