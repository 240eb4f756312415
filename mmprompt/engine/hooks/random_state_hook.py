import random
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook

from mmprompt.registry import HOOKS


def capture_random_state() -> dict:
    """The python, numpy, torch (and CUDA) RNG states of this process, as
    tensors and plain numbers (a checkpoint of them loads with
    ``weights_only=True``)."""
    version, internal, gauss_next = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = dict(
        python=dict(
            version=version,
            state=torch.tensor(internal),
            gauss_next=gauss_next),
        numpy=dict(
            name=name,
            keys=torch.from_numpy(keys.astype(np.int64)),
            pos=int(pos),
            has_gauss=int(has_gauss),
            cached_gaussian=float(cached)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: dict) -> None:
    """Set the RNG states captured by :func:`capture_random_state`."""
    py = state['python']
    random.setstate(
        (py['version'], tuple(py['state'].tolist()), py['gauss_next']))
    npy = state['numpy']
    np.random.set_state((npy['name'], npy['keys'].numpy().astype(np.uint32),
                         npy['pos'], npy['has_gauss'], npy['cached_gaussian']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Let ``--resume`` continue the random streams of the interrupted run.

    mmengine re-seeds a resumed run but does not restore the RNG *states*,
    so whatever draws random numbers during training (mmdet's RPN/RoI
    samplers, dropout, random augmentation in the main process, the
    DataLoader's base seed of each epoch) draws other numbers after a resume
    than the uninterrupted run did. This hook writes every rank's python,
    numpy, torch and CUDA RNG states into each checkpoint
    (``meta['rng_states']``, one entry per rank, gathered at the end of each
    iteration, epoch and validation) and, when the run resumes,
    sets them again right before training starts (after mmengine's own
    re-seeding). ``tools/train.py`` adds it to every run; a checkpoint
    without the states, or from another number of processes, resumes with
    mmengine's seeding only, and the log says so.

    A validation leaves the streams as it found them (its DataLoader draws
    a seed from torch's RNG): training draws the same numbers whatever the
    ``val_interval``, and a checkpoint written after a validation resumes
    as one written before it would.
    """
    priority = 'VERY_HIGH'  # before CheckpointHook (VERY_LOW)

    def __init__(self):
        self._pending: Optional[List[dict]] = None
        self._latest: Optional[List[dict]] = None
        self._before_val: Optional[dict] = None

    def _capture(self) -> None:
        # mmengine saves checkpoints on rank 0 only (master_only), so every
        # rank hands over its state here, at the end of each iteration and
        # epoch, before the checkpoint hook runs
        state = capture_random_state()
        self._latest = all_gather_object(state) \
            if get_world_size() > 1 else [state]

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        self._capture()

    def after_train_epoch(self, runner) -> None:
        self._capture()

    def before_val_epoch(self, runner) -> None:
        self._before_val = capture_random_state()

    def after_val_epoch(self, runner, metrics=None) -> None:
        # Validation draws random numbers (its DataLoader's seed comes from
        # torch's RNG), so training after it drew other numbers than with
        # another val_interval, or than a run resumed from a checkpoint
        # taken on the other side of a validation. Put the streams back:
        # training is the same however often it validates.
        if self._before_val is not None:
            restore_random_state(self._before_val)
            self._before_val = None
        # the states the checkpoint written after this validation carries
        # (AtomicCheckpointHook waits for it)
        self._capture()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        states = self._latest if self._latest is not None else \
            [capture_random_state()]
        checkpoint.setdefault('meta', {})['rng_states'] = states

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not runner._resume:  # load_from: a new run, its own streams
            return
        states = checkpoint.get('meta', {}).get('rng_states')
        if states is None or len(states) != get_world_size():
            runner.logger.warning(
                'RandomStateHook: the checkpoint has no RNG states for '
                f'{get_world_size()} process(es) (it has '
                f'{"none" if states is None else len(states)}); the resumed '
                "run continues from mmengine's seed only, so its random "
                'draws differ from an uninterrupted run')
            return
        self._pending = states

    def before_train(self, runner) -> None:
        if self._pending is not None:
            restore_random_state(self._pending[get_rank()])
            self._pending = None
            runner.logger.info('RandomStateHook: RNG states of the '
                               'checkpoint restored')
