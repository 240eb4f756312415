"""FLOPs and latency against the number of prompts: ``python
tools/analysis/prompt_flops.py --help``; the logic is
:mod:`mmprompt.evaluation.prompt_flops_report`."""
from mmprompt.evaluation.prompt_flops_report import main

if __name__ == '__main__':
    main()
