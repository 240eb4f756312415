"""Export a prompt-tuned classifier (backbone, neck and head) to ONNX.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT OUT.onnx \
        [--batch N] [--img-size H W] [--opset 17]

CHECKPOINT is a full checkpoint of a run of CONFIG (condensed ones too:
the model is condensed to the checkpoint's kept prompts first) or a
prompt-only one (``tools/export_prompts.py``), put over the config's
pretrained backbone. The graph takes preprocessed images (B, 3, H, W), as
mmpretrain's ``mode='tensor'`` does (normalise with the config's
``data_preprocessor`` mean and std), and returns the head's scores; the
batch axis is dynamic. The model is traced in eval mode, where prompts run
as a shared prefix: the prompt tokens and their norm and projections fold
into constants of the graph. The file is checked with onnxruntime on a
batch of N (and of N + 1, for the dynamic axis) and the largest difference
to PyTorch is printed. Nothing is written to OUT unless the export and the
check succeed.
"""
import argparse
import os
import os.path as osp

import torch
import torch.nn as nn
from mmengine.registry import init_default_scope
from mmpretrain.models import ImageClassifier
from mmpretrain.registry import MODELS

from mmprompt.core import find_prompted_backbone
from mmprompt.methods.pc import condense_prompts, kept_positions
from mmprompt.utils.checkpoint_files import load_checkpoint_file
from mmprompt.utils.dependencies import load_config
from mmprompt.utils.onnx_export import ExportError, export_onnx
from mmprompt.utils.prompt_checkpoint import (init_pretrained_for_prompt_only,
                                              is_prompt_only, load_prompt_only)


class ScoresModel(nn.Module):
    """``inputs -> classifier(inputs, mode='tensor')``: what the graph
    computes."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, inputs):
        return self.classifier(inputs, mode='tensor')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('out', help='the .onnx file to write')
    parser.add_argument(
        '--batch',
        type=int,
        default=2,
        help='batch of the check with onnxruntime')
    parser.add_argument(
        '--img-size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='input size (default: the backbone\'s)')
    parser.add_argument('--opset', type=int, default=17)
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error(f'--batch must be >= 1, got {args.batch}')
    return args


def check_writable(out: str) -> str:
    out = osp.abspath(out)
    folder = osp.dirname(out)
    if not osp.isdir(folder):
        raise ExportError(f'cannot write {out}: the folder {folder} does '
                          'not exist')
    if not os.access(folder, os.W_OK):
        raise ExportError(f'cannot write {out}: the folder {folder} is not '
                          'writable')
    if osp.isdir(out):
        raise ExportError(f'cannot write {out}: it is a folder')
    return out


def build_classifier(config: str, checkpoint: str) -> nn.Module:
    """The config's model with the checkpoint's weights, in eval mode."""
    cfg = load_config(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    if not isinstance(model, ImageClassifier):
        raise ExportError(
            f'{config}: export_onnx.py exports classifiers (mmpretrain '
            f'ImageClassifier and its subclasses), got '
            f'{type(model).__name__}')
    ckpt = load_checkpoint_file(checkpoint)
    state_dict = ckpt.get('state_dict', ckpt) if isinstance(ckpt,
                                                            dict) else None
    if not isinstance(state_dict, dict):
        raise ExportError(f'{checkpoint} holds no state_dict')
    name, backbone = _prompted_backbone(model)
    if backbone is not None:
        keep = kept_positions(backbone, state_dict, f'{name}.' if name else '')
        if keep is not None:  # a condensed checkpoint
            condense_prompts(model, keep)
    if is_prompt_only(ckpt):
        init_pretrained_for_prompt_only(model, checkpoint)
        load_prompt_only(model, ckpt)
    else:
        incompatible = model.load_state_dict(state_dict, strict=False)
        if incompatible.missing_keys or incompatible.unexpected_keys:
            raise ExportError(
                f'checkpoint {checkpoint} does not match config {config}: '
                f'missing {incompatible.missing_keys[:8]}, unexpected '
                f'{incompatible.unexpected_keys[:8]}')
    return model.eval()


def _prompted_backbone(model):
    try:
        return find_prompted_backbone(model)
    except ValueError:  # a model without prompts (a linear probe)
        return None, None


def input_size(model, img_size):
    if img_size:
        return tuple(img_size)
    size = getattr(
        getattr(model.backbone, 'patch_embed', None), 'init_input_size', None)
    if size is None:
        raise ExportError(f'{type(model.backbone).__name__} does not say '
                          'its input size: pass --img-size H W')
    return tuple(size)


def main(argv=None):
    args = parse_args(argv)
    out = check_writable(args.out)
    model = build_classifier(args.config, args.checkpoint)
    H, W = input_size(model, args.img_size)
    torch.manual_seed(0)
    parts = ', '.join(f'{part} {type(getattr(model, part)).__name__}'
                      for part in ('backbone', 'neck', 'head')
                      if getattr(model, part, None) is not None)
    diff = export_onnx(
        ScoresModel(model), torch.randn(args.batch, 3, H, W), out, args.opset,
        f'{type(model).__name__} ({parts})')
    _, backbone = _prompted_backbone(model)
    prompts = backbone.num_prompts if backbone is not None else 0
    print(f'wrote {out} ({osp.getsize(out) / 2**20:.1f} MiB; prompts '
          f'{prompts}); max |onnxruntime - PyTorch| = {diff:.3g}')
    return diff
