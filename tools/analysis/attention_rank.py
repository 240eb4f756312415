"""Attention rank of prompted and prompt-free ViTs from checkpoints: ``python
tools/analysis/attention_rank.py --help``; the logic is
:mod:`mmprompt.evaluation.attention_rank_report`."""
from mmprompt.evaluation.attention_rank_report import main

if __name__ == '__main__':
    main()
