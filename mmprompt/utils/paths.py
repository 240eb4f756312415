"""Where the repository's ``tools/`` and ``configs/`` are: the checkout
mmprompt runs from (``pip install -e .``), or for a mim install the copies
under ``mmprompt/.mim``. Commands that start ``tools/train.py`` runs or
read ``configs/`` (the offline benchmark, the claims study, the demo, the
sweep) resolve their paths against it."""
import os.path as osp

PACKAGE = osp.dirname(osp.dirname(osp.abspath(__file__)))
_CHECKOUT = osp.dirname(PACKAGE)
REPO_ROOT = _CHECKOUT if osp.isfile(osp.join(
    _CHECKOUT, 'tools', 'train.py')) else osp.join(PACKAGE, '.mim')
