"""Fixtures shared by the test modules (pytest finds them here).

``setup``/``trained``: the end-to-end set-up of tools/ (see helpers.py) and
an uninterrupted 2-epoch run of it, made once per module that uses them.
"""
import os
import sys

import numpy as np
import pytest

from mmprompt.utils import register_checkpoint_safe_globals
from helpers import (COLOURS, CONFIG, HOOKS_MODULE, IMGS_PER_CLASS,
                     NUM_CLASSES, REPO, TRAIN, run)

# mmprompt/__init__ does this too; explicit here so that the checks do not
# depend on it (test_allow_list_is_what_makes_loading_work checks that).
register_checkpoint_safe_globals()


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """A dataset folder, the hooks module and the config file."""
    from PIL import Image

    root = tmp_path_factory.mktemp('tools')
    data = root / 'data'
    rng = np.random.RandomState(0)
    for c, colour in enumerate(COLOURS):
        (data / f'class_{c}').mkdir(parents=True)
        for i in range(IMGS_PER_CLASS):
            img = np.array(colour, np.float64) + rng.uniform(
                -30, 30, (32, 32, 3))
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(
                data / f'class_{c}' / f'{i}.png')
    hooks_dir = root / 'hooks'
    hooks_dir.mkdir()
    (hooks_dir / 'mmprompt_tools_test_hooks.py').write_text(HOOKS_MODULE)
    cfg = root / 'tiny_vpt.py'
    cfg.write_text(CONFIG.format(num_classes=NUM_CLASSES, data_root=str(data)))
    env = os.environ.copy()
    for key in list(env):  # nothing may turn weights_only off
        assert 'WEIGHTS_ONLY' not in key, f'{key} is set in the environment'
    env['PYTHONPATH'] = os.pathsep.join([REPO, str(hooks_dir)] + (
        [env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env['PYTHON'] = sys.executable
    return dict(root=root, cfg=str(cfg), env=env, hooks_dir=str(hooks_dir))


@pytest.fixture(scope='module')
def trained(setup):
    """An uninterrupted 2-epoch run (``tools/train.py cfg --work-dir A``)."""
    work = setup['root'] / 'A'
    run([sys.executable, TRAIN, setup['cfg'], '--work-dir',
         str(work)], setup['env'])
    return work
