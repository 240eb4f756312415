"""Prompt-only checkpoints: what a run tuned, without the frozen backbone.

A prompt-tuned model differs from its pretrained backbone only in its
trainable parameters (prompts, head, unfrozen biases) and in the buffers
methods compute (mappings, centroids, whitening matrices). Exporting exactly
those makes a checkpoint of kilobytes; loading it over the pretrained
backbone restores the tuned model.
"""
from collections import OrderedDict
from typing import Dict

import torch
import torch.nn as nn

from .checkpoint_files import load_checkpoint_file

PROMPT_ONLY_KEY = 'mmprompt_prompt_only'


def tuned_state_dict(model: nn.Module,
                     state_dict: Dict[str, torch.Tensor]) -> OrderedDict:
    """Entries of ``state_dict`` that are not frozen parameters of ``model``.

    Everything that can change during prompt tuning is kept: trainable
    parameters and every buffer (method state lives in buffers).
    """
    frozen = {
        name
        for name, p in model.named_parameters() if not p.requires_grad
    }
    unknown = set(state_dict) - set(model.state_dict())
    if unknown:
        raise ValueError(f'The checkpoint does not match the config: keys '
                         f'{sorted(unknown)[:8]} are not in the model')
    return OrderedDict(
        (k, v) for k, v in state_dict.items() if k not in frozen)


def is_prompt_only(checkpoint: dict) -> bool:
    return bool(checkpoint.get('meta', {}).get(PROMPT_ONLY_KEY, False))


def load_prompt_only(model: nn.Module, checkpoint: dict) -> None:
    """Load a prompt-only checkpoint into a model whose backbone already
    holds the pretrained weights; every exported entry must be used."""
    state_dict = checkpoint['state_dict']
    incompatible = model.load_state_dict(state_dict, strict=False)
    if incompatible.unexpected_keys:
        raise ValueError(f'Prompt-only checkpoint has keys the model lacks: '
                         f'{incompatible.unexpected_keys[:8]}')


def is_prompt_only_file(path: str) -> bool:
    """Whether ``path`` was written by ``tools/export_prompts.py``; reads
    only the metadata (memory-mapped, so a full checkpoint costs nothing).

    Raises:
        CheckpointFileError: ``path`` is not a readable checkpoint.
    """
    checkpoint = load_checkpoint_file(path, mmap=True)
    return isinstance(checkpoint, dict) and is_prompt_only(checkpoint)


def init_pretrained_for_prompt_only(model: nn.Module, path: str) -> None:
    """Load the config's pretrained backbone before a prompt-only
    checkpoint is put over it (``Runner.test`` does not initialise
    weights, it expects a full checkpoint)."""
    init_cfg = getattr(getattr(model, 'backbone', None), 'init_cfg', None)
    if not (isinstance(init_cfg, dict)
            and init_cfg.get('type') == 'Pretrained'):
        raise ValueError(
            f'{path} is a prompt-only checkpoint (tools/export_prompts.py): '
            'it needs the pretrained backbone from the config, but '
            f'model.backbone.init_cfg is {init_cfg!r}; set it to '
            "dict(type='Pretrained', checkpoint=...)")
    model.init_weights()
