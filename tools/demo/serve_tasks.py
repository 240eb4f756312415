"""The serving demo: two tasks on one frozen backbone in one mixed batch:
``python tools/demo/serve_tasks.py --help``; the logic is
:mod:`mmprompt.serving.demo`."""
from mmprompt.serving.demo import main

if __name__ == '__main__':
    main()
