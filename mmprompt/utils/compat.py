"""Compatibility between torch >= 2.6, numpy 2 and mmengine 0.10.

torch >= 2.6 loads checkpoints with ``weights_only=True`` by default: the
unpickler then refuses every global that is not allow-listed. mmengine 0.10.7
calls ``torch.load`` without ``weights_only`` and writes a few non-tensor
objects into its own checkpoints, so ``--resume`` and ``load_from`` fail on
its own files:

- ``message_hub.log_scalars`` are ``HistoryBuffer`` objects holding numpy
  arrays; ``HistoryBuffer.__getstate__`` also pickles its statistics methods
  (``HistoryBuffer.min`` ...), which pickle protocol 2 writes as
  ``getattr(HistoryBuffer, 'min')``;
- ``message_hub.runtime_info`` holds numpy scalars (``eta``);
- ``param_schedulers`` hold a ``collections.Counter`` (``MultiStepLR``).

:func:`register_checkpoint_safe_globals` allow-lists exactly those with
``torch.serialization.add_safe_globals``. It never turns ``weights_only`` off:
a checkpoint holding anything else (a pickled function, an arbitrary class)
is still refused. ``getattr`` is *not* allowed: a stand-in registered under
its name resolves only ``HistoryBuffer``'s statistics methods.
"""
import collections
import pickle
from typing import List, Tuple, Union
from unittest import mock

import numpy as np
import torch
import torch.distributed as dist
from mmengine.config import ConfigDict
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.dist import init_dist, is_distributed
from mmengine.logging import HistoryBuffer
from mmengine.optim import AmpOptimWrapper, OptimWrapper

try:  # numpy >= 2 (the numpy 1.x ``numpy.core`` is a shim there)
    from numpy._core import multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray

__all__ = [
    'register_checkpoint_safe_globals', 'checkpoint_safe_globals',
    'configure_cpu_distributed', 'shutdown_distributed', 'has_amp_device',
    'CPUAmpOptimWrapper', 'CPU_AMP_OPTIM_WRAPPER'
]

# The config ``type`` of :class:`CPUAmpOptimWrapper`. mmengine's registry
# resolves a dotted path it does not know by importing it, so no registry
# entry is needed.
CPU_AMP_OPTIM_WRAPPER = 'mmprompt.utils.compat.CPUAmpOptimWrapper'

_REGISTERED = False

# numpy dtypes a checkpoint's numpy arrays and numpy scalars can carry: the
# HistoryBuffers hold float64 (values) and float64/int64 arrays (counts);
# scalars (e.g. a ``best_score`` or a metric computed with numpy) may be
# any of these.
_NUMPY_DTYPES = ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16',
                 'uint32', 'uint64', 'float16', 'float32', 'float64',
                 'longdouble', 'complex64', 'complex128')


def _numpy_globals() -> List[Union[type, Tuple[object, str]]]:
    out: List[Union[type, Tuple[object, str]]] = [
        # ndarray.__reduce__ -> (_reconstruct, (ndarray, (0,), b'b'), state)
        multiarray._reconstruct,
        np.ndarray,
        # a dtype is rebuilt as np.dtype('f8', False, True) + BUILD(state)
        np.dtype,
        # numpy scalars: scalar(dtype, raw bytes)
        multiarray.scalar,
    ]
    # BUILD(state) of a dtype runs on an instance of its class
    # (numpy >= 1.25: numpy.dtypes.Float64DType ...); torch requires that
    # class to be allow-listed.
    for name in _NUMPY_DTYPES:
        if hasattr(np, name):
            dtype_cls = type(np.dtype(name))
            if dtype_cls is not np.dtype:
                out.append(dtype_cls)
    # Checkpoints written under numpy 1.x name the same functions through
    # ``numpy.core.multiarray``: allow that spelling too so older mmengine
    # checkpoints (and mmpretrain's released ones) still load.
    if multiarray.__name__ != 'numpy.core.multiarray':
        out.append(
            (multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'))
        out.append((multiarray.scalar, 'numpy.core.multiarray.scalar'))
    return out


_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj, name, *default):
    """Stand-in for ``builtins.getattr`` inside ``weights_only`` loading.

    Pickle protocol 2 (torch's default) writes a function nested in a class
    as ``getattr(cls, name)``; mmengine's ``HistoryBuffer.__getstate__``
    saves its ``statistics_methods`` (``HistoryBuffer.min`` ...) that way.
    Allow-listing the real ``getattr`` would let a checkpoint reach any
    attribute of any allow-listed object (``numpy.ndarray.tofile`` ...), so
    this resolves only the statistics methods of ``HistoryBuffer``.
    """
    if (obj is HistoryBuffer and isinstance(name, str)
            and (name in _DEFAULT_STATISTICS
                 or name in HistoryBuffer._statistics_methods)):
        return getattr(HistoryBuffer, name, *default)
    raise pickle.UnpicklingError(
        f'weights_only load: getattr({obj!r}, {name!r}) is not allowed; '
        'mmprompt only allows the statistics methods of mmengine\'s '
        'HistoryBuffer')


def checkpoint_safe_globals() -> List[Union[type, Tuple[object, str]]]:
    """The globals mmengine writes into its checkpoints (see module doc).

    - ``mmengine.logging.HistoryBuffer``: ``message_hub.log_scalars`` (loss,
      lr, time, val metrics) are HistoryBuffers, pickled as objects.
    - ``builtins.getattr`` -> :func:`_history_buffer_getattr`: the
      HistoryBuffers' ``statistics_methods`` (``HistoryBuffer.min`` ...).
    - numpy ``_reconstruct``/``ndarray``/``dtype``: the buffers'
      ``_log_history``/``_count_history`` are numpy arrays.
    - the numpy dtype classes (``numpy.dtypes.Float64DType`` ...): a pickled
      dtype is restored by ``BUILD`` on an instance of its class, which torch
      only does for allow-listed types.
    - numpy ``scalar``: numpy scalars in ``message_hub.runtime_info``
      (``eta`` is a ``numpy.float64``; best scores may be numpy scalars).
    - ``collections.OrderedDict``, ``collections.Counter``: the message hub
      state and ``MultiStepParamScheduler.milestones``. torch 2.13 allows
      both by default; listed for older torch versions.
    """
    return [
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
        collections.OrderedDict,
        collections.Counter,
    ] + _numpy_globals()


def register_checkpoint_safe_globals() -> None:
    """Allow-list the types of mmengine checkpoints for ``weights_only``.

    Idempotent and cheap (one module-level flag). A no-op on a torch without
    ``torch.serialization.add_safe_globals`` (< 2.4), which did not default to
    ``weights_only=True`` anyway.
    """
    global _REGISTERED
    if _REGISTERED:
        return
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:
        add_safe_globals(checkpoint_safe_globals())
    _REGISTERED = True


def has_amp_device() -> bool:
    """Whether mmengine's ``AmpOptimWrapper`` has an accelerator to use."""
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def configure_cpu_distributed(cfg) -> bool:
    """Make a distributed launch run on a machine without CUDA.

    mmengine 0.10.7 assumes an accelerator for ``launcher != 'none'``:

    1. the default ``env_cfg.dist_cfg.backend`` is ``'nccl'``;
    2. ``init_dist`` calls ``torch.cuda.set_device(local_rank)`` for every
       launcher, which raises without an NVIDIA driver;
    3. the model is wrapped in ``MMDistributedDataParallel(device_ids=
       [LOCAL_RANK])``, which torch rejects for a CPU module.

    When CUDA is unavailable this (1) sets the backend to ``'gloo'`` if the
    config asked for ``'nccl'`` or nothing (an explicit ``'gloo'``/``'mpi'``
    is kept), (3) wraps with ``device_ids=None`` unless the config has its
    own ``model_wrapper_cfg``, and (2) initialises the process group through
    mmengine's ``init_dist`` (same env handling for pytorch/slurm/mpi) with
    ``torch.cuda.set_device`` made a no-op for that call only; the Runner
    then finds the group initialised and skips its own ``init_dist``.
    Call it right before building the Runner.

    Returns:
        bool: True if anything was changed for CPU.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return False
    env_cfg = cfg.get('env_cfg') or ConfigDict()
    dist_cfg = env_cfg.get('dist_cfg') or ConfigDict()
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
    env_cfg['dist_cfg'] = dist_cfg
    cfg['env_cfg'] = env_cfg
    if cfg.get('model_wrapper_cfg') is None:
        cfg['model_wrapper_cfg'] = ConfigDict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    if not is_distributed():
        with mock.patch.object(torch.cuda, 'set_device',
                               lambda *args, **kwargs: None):
            init_dist(cfg['launcher'], **dist_cfg)
    return True


def shutdown_distributed() -> None:
    """Wait for every rank, then destroy the default process group.

    Without it each process tears gloo down at interpreter exit on its own:
    a rank that exits first closes its sockets while another rank's gloo
    threads still hold them, and that rank aborts (SIGABRT) after a finished
    run. Call it at the end of a launcher script; a no-op when no process
    group was initialised.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


class CPUAmpOptimWrapper(AmpOptimWrapper):
    """``AmpOptimWrapper`` for a machine without CUDA/NPU/MLU/MUSA.

    mmengine's ``AmpOptimWrapper`` asserts an accelerator. On CPU, torch's
    autocast supports ``bfloat16`` only, and bfloat16 has float32's exponent
    range, so no loss scaling is needed: the loss scaler is a disabled
    ``GradScaler`` (``scale``/``unscale_``/``update`` are no-ops, ``step``
    calls ``optimizer.step``, its ``state_dict`` is empty). ``loss_scale`` is
    accepted for config compatibility and ignored.
    """

    def __init__(self,
                 loss_scale='dynamic',
                 dtype='bfloat16',
                 use_fsdp: bool = False,
                 **kwargs):
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, None)
        if dtype != torch.bfloat16:
            raise ValueError('CPU autocast supports only dtype=bfloat16, '
                             f'got {dtype}')
        self.cast_dtype = dtype
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
