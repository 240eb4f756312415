"""Prompt Condensation offline: condense a trained VPT-Deep checkpoint.

Usage::

    python tools/condense.py CONFIG CHECKPOINT [--out-dir DIR]
        [--keep-ratio 0.3] [--min-per-layer 0] [--score taylor|magnitude]
        [--num-batches 10] [--cfg-options ...]

Scores every prompt token on ``--num-batches`` batches of the config's
training data, keeps the top ``--keep-ratio`` globally across layers, and
writes to ``--out-dir``:

- ``condensed.pth``: the condensed model (prompts of each layer reduced; the
  generators' ``kept_index`` buffers say which original tokens remain);
- ``<config>_condensed.py``: the config with ``num_prompts`` set to the kept
  counts, which loads ``condensed.pth`` for testing or fine-tuning;
- ``condense_report.json``: kept tokens per layer and backbone GFLOPs
  (mmengine's counter, one image) before and after.
"""
import argparse
import json
import os
import os.path as osp
from itertools import islice

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint

import mmprompt  # noqa: F401
from mmprompt.evaluation.complexity import count_flops
from mmprompt.methods.pc import (SCORE_METHODS, condensable_backbone,
                                 condense_prompts, score_prompts,
                                 select_prompts)
from mmprompt.utils import build_model
from mmprompt.utils.dependencies import load_config


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument(
        '--out-dir', default=None, help='default: <checkpoint dir>/condensed')
    parser.add_argument('--keep-ratio', type=float, default=0.3)
    parser.add_argument('--min-per-layer', type=int, default=0)
    parser.add_argument('--score', default='taylor', choices=SCORE_METHODS)
    parser.add_argument('--num-batches', type=int, default=10)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    if args.num_batches <= 0:
        parser.error(f'--num-batches must be > 0, got {args.num_batches}')
    return args


def main():
    args = parse_args()
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    out_dir = args.out_dir or osp.join(
        osp.dirname(args.checkpoint), 'condensed')
    os.makedirs(out_dir, exist_ok=True)

    model = build_model(cfg)
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    name, backbone = condensable_backbone(model)
    img_size = backbone.img_size
    dummy = (torch.randn(1, 3, *img_size), )
    flops_before = count_flops(backbone, dummy)
    before = list(backbone.num_prompts)

    batches = None
    if args.score == 'taylor':
        loader = Runner.build_dataloader(cfg.train_dataloader)
        batches = islice(iter(loader), args.num_batches)
    scores = score_prompts(model, batches, args.score)
    keep = select_prompts(scores, args.keep_ratio, args.min_per_layer)
    counts = condense_prompts(model, keep)
    flops_after = count_flops(backbone, dummy)

    checkpoint = osp.join(out_dir, 'condensed.pth')
    torch.save(
        {
            'state_dict':
            model.state_dict(),
            'meta':
            dict(
                condensed_from=osp.abspath(args.checkpoint),
                keep_ratio=args.keep_ratio,
                score=args.score,
                num_prompts=counts)
        }, checkpoint)
    condensed_cfg = Config(cfg.to_dict())  # a copy
    key = f'model.{name}.num_prompts' if name else 'model.num_prompts'
    condensed_cfg.merge_from_dict({key: counts})
    config_out = osp.join(
        out_dir,
        osp.splitext(osp.basename(args.config))[0] + '_condensed.py')
    condensed_cfg.dump(config_out)
    report = dict(
        config=osp.abspath(args.config),
        checkpoint=osp.abspath(args.checkpoint),
        score=args.score,
        keep_ratio=args.keep_ratio,
        num_prompts_before=before,
        num_prompts_after=counts,
        kept_index=[
            g.kept_index.tolist() if g.kept_index is not None else list(
                range(g.num_tokens)) for g in backbone.prompts
        ],
        backbone_gflops_before=flops_before / 1e9,
        backbone_gflops_after=flops_after / 1e9)
    with open(osp.join(out_dir, 'condense_report.json'), 'w') as f:
        json.dump(report, f, indent=2)
    print(f'Prompt tokens per layer: {before} -> {counts} '
          f'({sum(before)} -> {sum(counts)})')
    print(f'Backbone GFLOPs at {img_size[0]}x{img_size[1]}: '
          f'{flops_before / 1e9:.3f} -> {flops_after / 1e9:.3f}')
    print(f'Wrote {checkpoint}, {config_out} and condense_report.json')
