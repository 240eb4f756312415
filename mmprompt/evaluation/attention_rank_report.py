"""Attention rank against the number of prompts (PC paper, Figure 2).

Usage::

    python tools/analysis/attention_rank.py CONFIG
        (--checkpoints A.pth [B.pth ...] | --prompts 0 10 50 100)
        [--num-images 16] [--share 0.9] [--out-dir work_dirs/attention_rank]

For each trained checkpoint (its prompt counts are read from it) or, without
checkpoints, for each prompt count with the config's initialisation, the
attention maps of every layer on ``--num-images`` images of the config's
test set give normalised cumulative eigenvalue curves (eigenvalues of
A·Aᵀ). Prints the effective rank (eigenvalues for ``--share`` of the total)
as mean ± std over layers, writes ``attention_rank.json`` and
``attention_rank.png`` (mean curve ± std band per model).
"""
import argparse
import copy
import json
import os
import os.path as osp

import torch
from matplotlib.figure import Figure
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint

from mmprompt.evaluation.attention_rank import attention_rank_summary
from mmprompt.utils import build_model


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument('--checkpoints', nargs='+')
    group.add_argument('--prompts', type=int, nargs='+')
    parser.add_argument('--num-images', type=int, default=16)
    parser.add_argument('--share', type=float, default=0.9)
    parser.add_argument('--out-dir', default='work_dirs/attention_rank')
    return parser.parse_args()


def checkpoint_counts(path, prefix='backbone.'):
    state = torch.load(path, map_location='cpu', mmap=True)
    state = state.get('state_dict', state)
    counts, i = [], 0
    while f'{prefix}prompts.{i}.tokens' in state:
        counts.append(int(state[f'{prefix}prompts.{i}.tokens'].shape[0]))
        i += 1
    if not counts:
        raise ValueError(f'{path} holds no prompts ({prefix}prompts.*)')
    return counts


def test_images(cfg, num):
    loader = Runner.build_dataloader(cfg.test_dataloader)
    inputs = []
    for batch in loader:
        inputs.extend(batch['inputs'])
        if len(inputs) >= num:
            break
    if len(inputs) < num:
        raise ValueError(f'--num-images {num}: the test set has only '
                         f'{len(inputs)} images')
    return inputs[:num]


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    runs = [(osp.basename(c), c) for c in args.checkpoints] \
        if args.checkpoints else [(f'{n} prompts', n) for n in args.prompts]
    images = None
    results = []
    for label, source in runs:
        model_cfg = copy.deepcopy(cfg.model)
        if isinstance(source, int):
            model_cfg.backbone.num_prompts = source
        else:
            counts = checkpoint_counts(source)
            model_cfg.backbone.num_prompts = counts if len(counts) > 1 \
                else counts[0]
            # the checkpoint holds every weight
            model_cfg.backbone.pop('init_cfg', None)
        model = build_model(cfg, model_cfg)
        if isinstance(source, int):
            model.init_weights()  # pretrained backbone of the config
        else:
            load_checkpoint(model, source, map_location='cpu', strict=True)
        model.eval()
        if images is None:
            raw = test_images(cfg, args.num_images)
            images = model.data_preprocessor(dict(inputs=raw), False)['inputs']
        backbone = model.backbone
        summary = attention_rank_summary(backbone, images, args.share)
        results.append((label, summary))
        print(f'{label}: {summary["num_tokens"]} tokens, effective rank '
              f'({args.share:.0%}) {summary["rank_mean"]:.1f} ± '
              f'{summary["rank_std"]:.1f} over layers')

    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'attention_rank.json'), 'w') as f:
        json.dump([
            dict(
                label=label,
                ranks=s['ranks'],
                rank_mean=s['rank_mean'],
                rank_std=s['rank_std'],
                num_tokens=s['num_tokens'],
                curve_mean=s['curve_mean'].tolist()) for label, s in results
        ],
                  f,
                  indent=2)
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    for label, s in results:
        x = torch.arange(1, s['num_tokens'] + 1)
        ax.plot(x, s['curve_mean'], label=label)
        ax.fill_between(
            x,
            s['curve_mean'] - s['curve_std'],
            s['curve_mean'] + s['curve_std'],
            alpha=0.2)
    ax.set_xscale('log')
    ax.set_xlabel('eigenvalue index')
    ax.set_ylabel('normalised cumulative eigenvalue')
    ax.legend()
    fig.tight_layout()
    out = osp.join(args.out_dir, 'attention_rank.png')
    fig.savefig(out, dpi=120)
    print(f'Wrote {out} and attention_rank.json')
