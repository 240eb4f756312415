"""Reading checkpoint files into dicts of tensors, without unpickling
arbitrary objects."""
import os
import os.path as osp
import pickle
import zipfile
from collections.abc import Mapping

import numpy as np
import torch

from ..compat import register_checkpoint_safe_globals
from .common import log

TORCH_EXTENSIONS = ('.pth', '.pt', '.bin', '.tar', '.ckpt')
READABLE_EXTENSIONS = TORCH_EXTENSIONS + ('.safetensors', '.npz')


class Placeholder:
    """Stands in for a non-tensor object of a checkpoint that
    ``weights_only`` loading does not allow (``argparse.Namespace`` of MAE,
    mmengine's ``HistoryBuffer`` ...); it never runs the original code."""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass

    def __call__(self, *args, **kwargs):
        return Placeholder(*args, **kwargs)


def torch_load(path, map_location, logger=None):
    """``torch.load`` with ``weights_only=True``; objects other than tensors
    and plain containers are replaced by placeholders rather than
    unpickled."""
    # the numpy / mmengine types of mmengine's own checkpoints
    register_checkpoint_safe_globals()
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as first_error:
        get_unsafe = getattr(torch.serialization,
                             'get_unsafe_globals_in_checkpoint', None)
        if get_unsafe is None:
            raise
        try:
            names = get_unsafe(path)
        except Exception:  # noqa: BLE001
            raise first_error
        if not names:
            raise
        stubs = [(type(name.rsplit('.', 1)[-1], (Placeholder, ), {}), name)
                 for name in names]
        with torch.serialization.safe_globals(stubs):
            checkpoint = torch.load(
                path, map_location=map_location, weights_only=True)
        log(
            f'{path}: non-tensor objects of types {sorted(names)} were '
            'replaced by placeholders (weights_only loading)', logger)
        return checkpoint


def is_torchscript_archive(path):
    """Whether ``path`` is a TorchScript archive (``torch.jit.save``; the
    form of OpenAI's released CLIP ``.pt`` files): a zip whose top folder
    holds ``constants.pkl`` beside ``data.pkl``."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any(
        n.endswith('/constants.pkl') and n.count('/') == 1 for n in names)


def load_torchscript(path, map_location='cpu', logger=None):
    """The state dict of a TorchScript archive.

    ``torch.load`` refuses these archives under ``weights_only``; this reads
    them through ``torch.jit.load``, which runs TorchScript (not pickled
    Python objects), and keeps only the parameters and buffers."""
    module = torch.jit.load(path, map_location=map_location)
    state_dict = {k: v.detach() for k, v in module.state_dict().items()}
    log(f'{path}: read as a TorchScript archive ({len(state_dict)} tensors)',
        logger)
    return state_dict


def load_safetensors(path):
    # optional: only .safetensors files need it
    from safetensors.torch import load_file
    return load_file(path, device='cpu')


def load_npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def read_checkpoint_file(path,
                         map_location='cpu',
                         logger=None,
                         what='ViT',
                         formats=(),
                         extensions=READABLE_EXTENSIONS):
    """The dict stored in a ``.pth``/``.pt``/``.bin``/``.tar``/``.ckpt``
    (``weights_only`` loading; a TorchScript archive gives its state dict),
    ``.safetensors`` or ``.npz`` file.

    ``what`` and ``formats`` word the errors; ``extensions`` are the ones
    the caller accepts.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: an unknown extension, or the file holds no dict.
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} checkpoint not found: {path!r}')
    ext = osp.splitext(path)[1].lower()
    readers = {'.safetensors': load_safetensors, '.npz': load_npz}
    readers.update({
        e:
        lambda p: load_torchscript(p, map_location, logger)
        if is_torchscript_archive(p) else torch_load(p, map_location, logger)
        for e in TORCH_EXTENSIONS
    })
    if ext not in extensions or ext not in readers:
        raise ValueError(
            f'Unknown {what} checkpoint file extension {ext!r} of {path!r}; '
            f'supported extensions: {", ".join(extensions)}' +
            (f' (formats: {", ".join(formats)}).' if formats else '.'))
    checkpoint = readers[ext](path)
    if not isinstance(checkpoint, Mapping):
        raise ValueError(
            f'Cannot convert {path}: it holds a '
            f'{type(checkpoint).__name__}, not a dict of tensors.' +
            (f' Supported formats: {", ".join(formats)}.' if formats else ''))
    return checkpoint
