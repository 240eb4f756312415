"""Helpers shared by the checkpoint readers and converters."""
import logging
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import torch
from mmengine.logging import print_log

GIVEN_DICT = 'the given dict'


def log(msg, logger=None, level=None):
    """Log through mmengine's current logger (``print_log``)."""
    print_log(
        msg,
        logger=logger if logger is not None else 'current',
        level=level if level is not None else logging.INFO)


def to_tensor(value):
    """A tensor for ``value`` (numpy arrays included), else ``None``."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return None
        return torch.from_numpy(np.ascontiguousarray(value))
    return None


def key_suffix_match(key, suffix):
    """Whether ``key`` is ``suffix`` or ends with ``'.' + suffix``."""
    return key == suffix or key.endswith('.' + suffix)


def prefixes_of(keys, suffix):
    """The prefixes (ending with '.', or '') of keys that end with
    ``suffix``."""
    return sorted(
        {
            k[:len(k) - len(suffix)]
            for k in keys if key_suffix_match(k, suffix)
        },
        key=len)


def sample_keys(keys, num=8):
    keys = [str(k) for k in keys]
    shown = ', '.join(repr(k) for k in keys[:num])
    if len(keys) > num:
        shown += f', ... ({len(keys)} keys in all)'
    return shown or '(no keys)'


def is_state_dict_like(obj):
    return isinstance(obj, Mapping) and len(obj) > 0 and any(
        isinstance(v, (torch.Tensor, np.ndarray)) for v in obj.values())


def unwrap(checkpoint):
    """``(inner_state_dict, wrapper_key)`` of a loaded checkpoint."""
    for wrapper in ('state_dict', 'model', 'module'):
        inner = checkpoint.get(wrapper) if isinstance(checkpoint,
                                                      Mapping) else None
        if is_state_dict_like(inner):
            return inner, wrapper
    return checkpoint, None


def strip(state_dict, prefix):
    """The entries of ``state_dict`` under ``prefix``, prefix removed."""
    return OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                       if k.startswith(prefix))


# ---------------------------------------------------------------------------


def rename(key, table):
    """``key`` renamed by the first matching ``(old, new)`` of ``table``
    (``old`` ending with a dot renames a prefix), or None."""
    for old, new in table:
        if key == old or (old.endswith('.') and key.startswith(old)):
            return new + key[len(old):] if old.endswith('.') else new
    return None


def cat_qkv(out, layer, parts, what):
    """Fuse separate query, key, value tensors into ``attn.qkv``."""
    missing = [
        n for n, p in zip(('query', 'key', 'value'), parts) if p is None
    ]
    if missing:
        raise ValueError(
            f'layer {layer}: the attention {what} lacks {missing}; cannot '
            'fuse q, k, v')
    out[f'layers.{layer}.attn.qkv.{what}'] = torch.cat(list(parts), dim=0)
