"""A training run's log says what the user can act on: no line per frozen
parameter, no deprecation notices mmengine owes itself; every other warning
stays."""
import logging
import re
import subprocess
import sys

import pytest

from mmprompt.utils.quiet_log import quiet
from helpers import TRAIN, run


def test_only_the_known_lines_are_dropped():
    logger = logging.getLogger('quiet_log_test')
    records = []

    class Keep(logging.Handler):

        def emit(self, record):
            records.append(record.getMessage())

    logger.addHandler(Keep())
    quiet(quiet(logger))
    assert len(logger.filters) == 1  # once
    for message in (
            'backbone.layers.0.ffn.layers.0.0.weight is skipped since its '
            'requires_grad=False',
            '"FileClient" will be deprecated in future. Please use io '
            'functions in https://mmengine.readthedocs.io',
            '"HardDiskBackend" is the alias of "LocalBackend" and the former '
            'will be deprecated in future.',
            'backbone.layers.0.ffn is skipped since its requires_grad=True',
            'The model and loaded state dict do not match exactly',
    ):
        logger.warning(message)
    assert records == [
        'backbone.layers.0.ffn is skipped since its requires_grad=True',
        'The model and loaded state dict do not match exactly'
    ]


@pytest.mark.slow
def test_a_tiny_training_run_logs_no_warning(setup, tmp_path):
    # a paramwise_cfg makes mmengine's constructor visit (and warn about)
    # every frozen parameter: 2 layers' worth here
    proc = run([
        sys.executable, TRAIN, setup['cfg'], '--work-dir',
        str(tmp_path / 'run'), '--cfg-options',
        'optim_wrapper.paramwise_cfg.norm_decay_mult=0.'
    ], setup['env'])
    out = proc.stdout + proc.stderr
    warnings = [
        line for line in out.splitlines() if re.search(r'warn', line, re.I)
    ]
    assert warnings == []
    assert re.search(r'trainable params: \d+ \(', out)
    for epoch in (1, 2):  # a progress line per epoch remains
        assert f'Epoch(train) [{epoch}]' in out


MMCV_LITE = '''
import sys, warnings
sys.modules['mmcv.ops.multi_scale_deform_attn'] = None  # mmcv-lite: no op
warnings.simplefilter('always')
with warnings.catch_warnings(record=True) as caught:
    import {first}
    import mmpretrain.models
print(sum('MultiScaleDeformableAttention' in str(w.message) for w in caught))
'''


@pytest.mark.slow  # a Python process each
@pytest.mark.parametrize('first, notices', [('mmcv', 1), ('mmprompt', 0)])
def test_mmcv_lite_notice_is_silenced_at_its_source(first, notices):
    """Without mmcv's deformable-attention op (as with mmcv-lite), importing
    mmpretrain warns once; importing mmprompt first imports that module
    with exactly that notice ignored."""
    out = subprocess.run([sys.executable, '-c',
                          MMCV_LITE.format(first=first)],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    assert out.split()[-1] == str(notices)
