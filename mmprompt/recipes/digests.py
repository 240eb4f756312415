"""Digest of what every config resolves to, so a refactoring of configs/
can show that each leaf still builds the same model, data and schedule.

The record, ``tests/records/config_digests.json``, maps each config (relative
path) to the sha256 of its resolved ``model``, dataloaders, optimizer
wrapper, parameter schedulers and loops (``custom_hooks`` and the runtime
are left out: hooks every run needs may move between configs and
``tools/train.py``). ``tools/misc/config_digests.py`` prints differences or
rewrites the record; tests/test_configs.py compares against it. Types
renamed to their papers' names (``mmprompt.registry.RENAMED_TYPES``) are
hashed under their new names, so a config that only uses an old name has the
digest of the same config with the new one.
"""
import glob
import hashlib
import json
import os.path as osp
import re

from mmengine.config import Config

from mmprompt.registry import RENAMED_TYPES
from mmprompt.utils.paths import REPO_ROOT

ROOT = REPO_ROOT
RECORD = osp.join(ROOT, 'tests', 'records', 'config_digests.json')
FIELDS = ('model', 'train_dataloader', 'val_dataloader', 'test_dataloader',
          'optim_wrapper', 'param_scheduler', 'train_cfg', 'val_cfg',
          'test_cfg', 'val_evaluator', 'test_evaluator', 'data_preprocessor')


def leaf_configs():
    """Every config a user runs: not under ``_base_`` nor named
    ``_base_*``."""
    paths = glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    return sorted(
        osp.relpath(p, ROOT) for p in paths
        if '_base_' not in osp.relpath(p, ROOT).split(osp.sep)[:-1]
        and not osp.basename(p).startswith('_base_'))


def digest(rel_path):
    cfg = Config.fromfile(osp.join(ROOT, rel_path))
    resolved = {f: cfg.get(f) for f in FIELDS}
    text = json.dumps(resolved, sort_keys=True, default=repr)
    for old, new in RENAMED_TYPES.items():
        text = re.sub(rf"(['\"])mmprompt\.{old}\1", rf'\1mmprompt.{new}\1',
                      text)
    return hashlib.sha256(text.encode()).hexdigest()


def digests(configs=None):
    return {c: digest(c) for c in (configs or leaf_configs())}


def differences(record, current):
    changed = sorted(c for c in record.keys() & current.keys()
                     if record[c] != current[c])
    return (changed, sorted(current.keys() - record.keys()),
            sorted(record.keys() - current.keys()))
