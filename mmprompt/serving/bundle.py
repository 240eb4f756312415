"""Bundle files: many tasks' prompt-only states over one frozen ViT.

A bundle (``torch.save`` of plain dicts, tensors and strings: it loads
under ``weights_only``) holds

- ``meta``: ``mmprompt_bundle`` (the layout version), the backbone's
  identity (``sha256`` of its frozen weights, ``embed_dims``,
  ``num_layers``, ``patch_size``) and the task names in order;
- ``tasks``: per task, the resolved text of the config it came from, its
  prompt-only state (prompts, head, method buffers: what
  ``tools/export_prompts.py`` keeps), its class names and the checkpoint
  it came from.

The frozen backbone itself is not in the file: it is the pretrained
checkpoint the configs name, loaded once and checked against the recorded
hash.
"""
import hashlib
import os.path as osp
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmprompt.core import find_prompted_backbone
from mmprompt.methods.pc import condense_prompts, kept_positions
from mmprompt.utils.checkpoint_files import (load_checkpoint_file,
                                             write_atomically)
from mmprompt.utils.dependencies import load_config
from mmprompt.utils.model_builder import build_model
from mmprompt.utils.prompt_checkpoint import (is_prompt_only, load_prompt_only,
                                              tuned_state_dict)
from .multi_task_vit import MultiTaskPromptViT, ServingError, check_servable

BUNDLE_KEY = 'mmprompt_bundle'
BUNDLE_VERSION = 1
BACKBONE_HASH_KEY = 'backbone_sha256'


def frozen_backbone_state(
        model: nn.Module,
        state_dict: Optional[dict] = None) -> Dict[str, torch.Tensor]:
    """The frozen tensors of ``model``'s prompted backbone (all but the
    prompt generators and what trains), by their names in ``model``; from
    ``state_dict`` (a full checkpoint's) when given, else the model's."""
    name, backbone = find_prompted_backbone(model)
    prefix = f'{name}.' if name else ''
    trainable = {n for n, p in backbone.named_parameters() if p.requires_grad}
    keys = [
        prefix + k for k in backbone.state_dict()
        if not k.startswith('prompts.') and k not in trainable
    ]
    source = model.state_dict() if state_dict is None else state_dict
    missing = [k for k in keys if k not in source]
    if missing:
        raise ServingError(f'the checkpoint lacks frozen backbone weights '
                           f'{missing[:6]}')
    return {k: source[k] for k in keys}


def backbone_sha256(state: Dict[str, torch.Tensor]) -> str:
    """sha256 of frozen weights: names, dtypes, shapes and bytes, in name
    order (the same weights give the same hash on any machine)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        digest.update(f'{key}|{t.dtype}|{tuple(t.shape)}|'.encode())
        digest.update(
            t.view(torch.uint8).numpy().tobytes() if t.numel() else b'')
    return digest.hexdigest()


def backbone_facts(model: nn.Module) -> dict:
    _, backbone = find_prompted_backbone(model)
    return dict(
        embed_dims=int(backbone.embed_dims),
        num_layers=int(backbone.num_layers),
        patch_size=tuple(
            int(s) for s in backbone.patch_embed.projection.kernel_size))


def _task_model(name: str, cfg: Config) -> nn.Module:
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return build_model(cfg)


def _load_config(name: str, config) -> Config:
    if isinstance(config, Config):
        return config
    if not isinstance(config, str) or not osp.isfile(config):
        raise ServingError(f'task {name!r}: config {config!r} does not exist')
    return load_config(config)


def _apply_condensation(model: nn.Module, state: dict) -> None:
    """A checkpoint of Prompt Condensation keeps fewer prompts per layer:
    the model is condensed to them before the state loads."""
    name, backbone = find_prompted_backbone(model)
    keep = kept_positions(backbone, state, f'{name}.' if name else '')
    if keep is not None:
        condense_prompts(model, keep)


def task_entry(name: str, config, checkpoint: str) -> Tuple[dict, dict]:
    """``(entry, backbone identity)`` of one task for a bundle.

    ``checkpoint`` is a full checkpoint of a run of ``config`` or a
    prompt-only one (``tools/export_prompts.py``).
    """
    cfg = _load_config(name, config)
    ckpt = load_checkpoint_file(checkpoint, what=f'task {name!r} checkpoint')
    state = ckpt.get('state_dict') if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ServingError(
            f'task {name!r}: checkpoint {checkpoint} holds no state_dict')
    model = _task_model(name, cfg)
    _apply_condensation(model, state)
    check_servable(name, model)
    meta = ckpt.get('meta') or {}
    if is_prompt_only(ckpt):
        tuned = dict(state)
        sha = meta.get(BACKBONE_HASH_KEY)
        if sha is None:  # exported before the hash was recorded
            model.init_weights()
            sha = backbone_sha256(frozen_backbone_state(model))
    else:
        tuned = dict(tuned_state_dict(model, state))
        sha = backbone_sha256(frozen_backbone_state(model, state))
    classes = (meta.get('dataset_meta') or {}).get('classes')
    entry = dict(
        config=cfg.pretty_text,
        state_dict=tuned,
        classes=list(classes) if classes is not None else None,
        checkpoint=osp.abspath(checkpoint))
    return entry, dict(sha256=sha, **backbone_facts(model))


def write_bundle(out: str, tasks: Dict[str, Tuple[object, str]]) -> dict:
    """Write the bundle of ``tasks`` (name -> (config, checkpoint)) to
    ``out``; returns its ``meta``.

    Raises:
        ServingError: a task from another backbone (weights, patch size,
            layer count or width), naming the task and both values; a
            missing config; a task that tunes backbone weights.
    """
    if not tasks:
        raise ServingError('a bundle needs at least one task')
    entries, identity, first = {}, None, None
    for name, (config, checkpoint) in tasks.items():
        entry, ident = task_entry(name, config, checkpoint)
        if identity is None:
            identity, first = ident, name
        for field in ('embed_dims', 'num_layers', 'patch_size', 'sha256'):
            if ident[field] != identity[field]:
                raise ServingError(
                    f'task {name!r} was trained on another backbone than '
                    f'task {first!r}: {field} {ident[field]!r} vs '
                    f'{identity[field]!r}')
        entries[name] = entry
    meta = {
        BUNDLE_KEY: BUNDLE_VERSION,
        'backbone': dict(identity, patch_size=list(identity['patch_size'])),
        'tasks': list(entries)
    }
    write_atomically(
        lambda tmp: torch.save(dict(meta=meta, tasks=entries), tmp), out)
    return meta


def load_bundle(path: str, device='cpu') -> MultiTaskPromptViT:
    """The :class:`MultiTaskPromptViT` of a bundle file: the first task's
    config builds the frozen backbone (its pretrained checkpoint, checked
    against the recorded hash), every task's prompts and head load over
    their config's model, which then shares that backbone."""
    bundle = load_checkpoint_file(path, what='bundle')
    meta = bundle.get('meta') if isinstance(bundle, dict) else None
    version = meta.get(BUNDLE_KEY) if isinstance(meta, dict) else None
    if version != BUNDLE_VERSION:
        raise ServingError(
            f'bundle {path}: {BUNDLE_KEY}={version!r}, but this mmprompt '
            f'reads layout {BUNDLE_VERSION}; write it again with '
            'tools/deployment/bundle_tasks.py')
    models, shared = {}, None
    for name in meta['tasks']:
        entry = bundle['tasks'][name]
        cfg = Config.fromstring(entry['config'], '.py')
        model = _task_model(name, cfg)
        _apply_condensation(model, entry['state_dict'])
        if shared is None:
            model.init_weights()  # the pretrained backbone, once
            sha = backbone_sha256(frozen_backbone_state(model))
            if sha != meta['backbone']['sha256']:
                raise ServingError(
                    f'bundle {path}: the pretrained backbone of task '
                    f'{name!r}\'s config has sha256 {sha}, the bundle was '
                    f"made on {meta['backbone']['sha256']}")
            shared = model.backbone
        load_prompt_only(model, dict(state_dict=entry['state_dict']))
        model.classes = entry['classes']
        model.config = cfg
        models[name] = model
    return MultiTaskPromptViT(shared, models).to(device)
