"""Reaching into a model the same way everywhere: every hook and tool that
needs the model behind a wrapper or its prompted backbone uses these."""
from typing import Optional, Tuple, Type

import torch.nn as nn
from mmengine.model import is_model_wrapper

from .prompted_backbone import PromptedBackboneMixin


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a wrapper (DDP, FSDP, mmengine's wrappers), or the
    model itself; a runner works too (its ``model``)."""
    model = getattr(model, 'model',
                    model) if not isinstance(model, nn.Module) else model
    return model.module if is_model_wrapper(model) else model


def find_prompted_backbone(
        model: nn.Module,
        backbone_type: Optional[Type] = None,
        require_prompts: bool = False) -> Tuple[str, nn.Module]:
    """``(name, module)`` of the prompted backbone of ``model`` (wrapped or
    not): the first module that is a
    :class:`~mmprompt.core.PromptedBackboneMixin`.

    Args:
        backbone_type: the backbone must be an instance of it (e.g.
            :class:`~mmprompt.core.PromptViT` for what only a ViT has).
        require_prompts: the backbone must have at least one prompt.

    Raises:
        TypeError: no prompted backbone (of ``backbone_type``).
        ValueError: ``require_prompts`` and the backbone has none.
    """
    model = unwrap_model(model)
    wanted = backbone_type or PromptedBackboneMixin
    for name, module in model.named_modules():
        if not isinstance(module, PromptedBackboneMixin):
            continue
        if not isinstance(module, wanted):
            raise TypeError(
                f'{type(model).__name__} needs a {wanted.__name__} backbone, '
                f'got {type(module).__name__} at {name or "model"!r}')
        if require_prompts and sum(module.num_prompts) == 0:
            raise ValueError(
                f'{type(module).__name__} at {name or "model"!r} has no '
                f'prompts (num_prompts={module.num_prompts})')
        return name, module
    raise TypeError(f'{type(model).__name__} has no prompted backbone '
                    f'({wanted.__name__}): {_child_types(model)}')


def _child_types(model: nn.Module) -> str:
    children = [f'{n}: {type(m).__name__}' for n, m in model.named_children()]
    return ', '.join(children) or 'no sub-modules'
