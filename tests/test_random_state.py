"""RandomStateHook: RNG states in checkpoints, restored on --resume (the
end-to-end check is the detectors' resume in tests/test_dense.py, whose RoI
samplers draw from the torch RNG)."""
import random
from types import SimpleNamespace

import numpy as np
import torch

from mmprompt.engine.hooks import RandomStateHook
from mmprompt.engine.hooks.random_state_hook import (capture_random_state,
                                                     restore_random_state)


def draws():
    return (random.random(), random.gauss(0, 1), float(np.random.rand()),
            float(np.random.randn()), torch.rand(3).tolist())


def test_restore_continues_every_stream():
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0, 1)  # leaves a cached gaussian in python's state
    state = capture_random_state()
    expected = draws()
    draws()  # the streams move on ...
    restore_random_state(state)
    assert draws() == expected  # ... and come back


class FakeLogger:

    def __init__(self):
        self.lines = []

    def warning(self, msg):
        self.lines.append(msg)

    info = warning


def test_hook_round_trip_through_a_checkpoint_dict():
    hook = RandomStateHook()
    runner = SimpleNamespace(_resume=True, logger=FakeLogger())
    torch.manual_seed(0)
    checkpoint = dict(meta=dict(epoch=1))
    hook.before_save_checkpoint(runner, checkpoint)
    expected = torch.rand(4)
    # a resumed run: the checkpoint is loaded, training starts
    torch.manual_seed(0)
    torch.rand(100)
    saved = torch.load  # tensors only: it loads with weights_only=True
    import io
    buf = io.BytesIO()
    torch.save(checkpoint, buf)
    buf.seek(0)
    checkpoint = saved(buf, weights_only=True)
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(runner)
    assert torch.equal(torch.rand(4), expected)

    # load_from (not a resume) keeps the new run's own streams
    hook = RandomStateHook()
    hook.after_load_checkpoint(SimpleNamespace(_resume=False), checkpoint)
    torch.manual_seed(5)
    first = torch.rand(2)
    torch.manual_seed(5)
    hook.before_train(runner)
    assert torch.equal(torch.rand(2), first)

    # a checkpoint without states (or from another world size) says so
    hook = RandomStateHook()
    logger = FakeLogger()
    hook.after_load_checkpoint(
        SimpleNamespace(_resume=True, logger=logger), dict(meta={}))
    assert 'no RNG states for 1 process(es) (it has none)' in logger.lines[0]
