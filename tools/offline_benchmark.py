"""The offline accuracy table of every method on Fashion-MNIST: ``python
tools/offline_benchmark.py --help``; the logic is
:mod:`mmprompt.evaluation.offline_benchmark`."""
from mmprompt.evaluation.offline_benchmark import main

if __name__ == '__main__':
    main()
