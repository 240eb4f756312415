"""The offline demo: VPT-Deep against the linear probe on Fashion-MNIST:
``python tools/demo/run_demo.py --help``; the logic is
:mod:`mmprompt.utils.demo`."""
from mmprompt.utils.demo import main

if __name__ == '__main__':
    main()
