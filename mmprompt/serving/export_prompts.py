"""Write only what a prompt-tuning run tuned: prompts, head, method state.

The frozen backbone is left out (it comes from the config's pretrained
checkpoint), so the file is kilobytes instead of the full model; it records
the frozen backbone's hash, so a bundle refuses it over another backbone.
Load it with the same config: ``tools/test.py CONFIG OUT`` (the pretrained
backbone first, then OUT over it), or ``load_from=OUT`` to train further.
"""
import os
import os.path as osp

import torch
from mmengine.registry import MODELS, init_default_scope

from mmprompt.core.prompted_backbone import PromptedBackboneMixin
from mmprompt.utils.checkpoint_files import (load_checkpoint_file,
                                             write_atomically)
from mmprompt.utils.prompt_checkpoint import PROMPT_ONLY_KEY, tuned_state_dict
from .bundle import BACKBONE_HASH_KEY, backbone_sha256, frozen_backbone_state


def export_prompts(cfg, config_path, checkpoint_path, out):
    """Write the prompt-only file of ``checkpoint_path`` (a run of ``cfg``)
    to ``out``; returns ``(tuned, state_dict)``: what was kept, of all."""
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    checkpoint = load_checkpoint_file(checkpoint_path)
    state_dict = checkpoint.get('state_dict', checkpoint)
    tuned = tuned_state_dict(model, state_dict)
    meta = dict(checkpoint.get('meta', {}) or {})
    if any(isinstance(m, PromptedBackboneMixin) for m in model.modules()):
        meta[BACKBONE_HASH_KEY] = backbone_sha256(
            frozen_backbone_state(model, state_dict))
    meta.update({
        PROMPT_ONLY_KEY: True,
        'config': osp.abspath(config_path),
        'source_checkpoint': osp.abspath(checkpoint_path)
    })
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    write_atomically(
        lambda tmp: torch.save({
            'state_dict': tuned,
            'meta': meta
        }, tmp), out)
    return tuned, state_dict
