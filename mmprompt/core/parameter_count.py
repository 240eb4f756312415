from typing import Tuple

import torch.nn as nn


def count_parameters(model: nn.Module) -> Tuple[int, int]:
    """Return (trainable, total) parameter counts of ``model``.

    A parameter of which only some rows learn (a module's
    ``trainable_rows = {name: (start, end)}``, e.g. the K and V thirds of a
    fused qkv bias in DA-VPT+) counts with those rows only: the others have
    their gradient masked and never change.
    """
    rows = {}
    for prefix, module in model.named_modules():
        for name, span in getattr(module, 'trainable_rows', {}).items():
            rows[f'{prefix}.{name}' if prefix else name] = span
    trainable = total = 0
    for name, param in model.named_parameters():
        total += param.numel()
        if not param.requires_grad:
            continue
        if name in rows:
            start, end = rows[name]
            trainable += param.numel() // param.shape[0] * (end - start)
        else:
            trainable += param.numel()
    return trainable, total
