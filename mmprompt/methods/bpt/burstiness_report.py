"""Burstiness of a prompted ViT (BPT paper, Fig. 1).

    python tools/analysis/burstiness.py CONFIG CHECKPOINT [--num-images 16]
        [--layers 0 5 11] [--split train] [--out-dir DIR]

For N images of the config's dataset (a seeded random choice) and each
layer: the value distributions of ``W_q W_k^T``, of the attention input
tokens ``X`` and of ``W_q W_k^T X^T``, and after whitening
(``W W_q W_k^T``, ``W W_q W_k^T X^T``). It prints a table of kurtosis
(normal: 3) and the share of values beyond 3 sigma (normal: 0.27%), writes
one PNG of histograms with log counts per layer and ``burstiness.json``.

The whitening matrix of a layer is the checkpoint's (a BPT model whose
layer has one) or else computed from the same images with the
BPTWhiteningHook formula (``--eps``, ``--qk-product``).
"""
import argparse
import json
import os
import os.path as osp

import torch
from matplotlib.figure import Figure
from mmengine.config import Config, DictAction
from mmengine.registry import DATASETS, init_default_scope
from mmengine.runner import load_checkpoint

import mmprompt  # noqa: F401
from mmprompt.core.data_init import (input_batches, prompted_backbone,
                                     sample_indices)
from mmprompt.methods.bpt import (BURSTINESS_QUANTITIES, QK_PRODUCTS,
                                  QUANTITY_LABELS, burstiness_stats,
                                  fit_whitening, layer_burstiness_values)
from mmprompt.methods.bpt.bpt_whitening_hook import whitening_hook_cfg
from mmprompt.utils import build_model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--num-images', type=int, default=16)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument(
        '--layers', type=int, nargs='+', help='layer indices (default: all)')
    parser.add_argument(
        '--split',
        default='train',
        choices=['train', 'val', 'test'],
        help='dataloader of the config to take images from')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--eps',
        type=float,
        default=None,
        help='eps of a whitening computed here (default: '
        "the config's BPTWhiteningHook, else 1e-5)")
    parser.add_argument(
        '--qk-product',
        choices=QK_PRODUCTS,
        default=None,
        help="default: the config's BPTWhiteningHook, "
        'else row_vector')
    parser.add_argument('--bins', type=int, default=200)
    parser.add_argument(
        '--out-dir', help='default: work_dirs/burstiness/'
        '<config name>')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def plot_layer(values, layer, path, bins):
    names = [n for n in BURSTINESS_QUANTITIES if n in values]
    fig = Figure(figsize=(4 * len(names), 3.2))
    axes = fig.subplots(1, len(names))
    for ax, name in zip(axes, names):
        v = values[name].numpy()
        stats = burstiness_stats(values[name])
        ax.hist(v, bins=bins, log=True, color='tab:blue')
        ax.set_title(
            f'{QUANTITY_LABELS[name]}\nkurtosis '
            f'{stats["kurtosis"]:.2f}, >3σ '
            f'{100 * stats["beyond_3sigma"]:.2f}%',
            fontsize=9)
        ax.set_xlabel('value')
        ax.set_ylabel('count (log)')
    fig.suptitle(f'layer {layer}')
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    hook_cfg = whitening_hook_cfg(cfg) or {}
    eps = args.eps if args.eps is not None else hook_cfg.get('eps', 1e-5)
    qk_product = args.qk_product or hook_cfg.get('qk_product', 'row_vector')
    average_images = hook_cfg.get('average_images', False)

    model = build_model(cfg)
    load_checkpoint(
        model, args.checkpoint, map_location='cpu', logger='current')
    model.eval()
    backbone = prompted_backbone(model)
    layers = args.layers if args.layers is not None else list(
        range(backbone.num_layers))
    bad = [l for l in layers if not 0 <= l < backbone.num_layers]
    if bad:
        raise ValueError(f'--layers {bad} outside the {backbone.num_layers} '
                         f'layers')
    dataset = DATASETS.build(cfg[f'{args.split}_dataloader'].dataset)
    indices = sample_indices(len(dataset), args.num_images, args.seed)

    def batches():
        return input_batches(model, dataset, indices, args.batch_size)

    whitenings, sources = {}, {}
    with torch.no_grad():
        for l in layers:
            gen = backbone.prompts[l] if l < len(backbone.prompts) else None
            if gen is not None and hasattr(gen, 'whitening') and \
                    not gen.needs_whitening:
                whitenings[l] = gen.whitening.detach().double()
                sources[l] = 'checkpoint'
        missing = [l for l in layers if l not in whitenings]
        if missing:
            fitted, _ = fit_whitening(backbone, batches(), missing, eps,
                                      average_images, qk_product)
            whitenings.update(fitted)
            sources.update({l: f'computed (eps={eps:g})' for l in missing})
        values = layer_burstiness_values(backbone, batches(), layers,
                                         whitenings, qk_product)

    out_dir = args.out_dir or osp.join(
        'work_dirs', 'burstiness',
        osp.splitext(osp.basename(args.config))[0])
    os.makedirs(out_dir, exist_ok=True)
    print(f'Burstiness of {args.checkpoint}: {args.num_images} {args.split} '
          f"images, qk_product='{qk_product}' (normal: kurtosis 3, "
          f'>3σ 0.27%)')
    header = f'{"layer":>5}  {"quantity":<20} {"kurtosis":>10} ' \
             f'{">3σ (%)":>9} {"std":>11}  whitening'
    print(header)
    print('-' * len(header))
    table = {}
    for l in layers:
        table[l] = {}
        for name in BURSTINESS_QUANTITIES:
            s = burstiness_stats(values[l][name])
            table[l][name] = s
            print(f'{l:>5}  {QUANTITY_LABELS[name]:<20} '
                  f'{s["kurtosis"]:>10.3f} {100 * s["beyond_3sigma"]:>9.3f} '
                  f'{s["std"]:>11.4g}  {sources[l]}')
        plot_layer(values[l], l, osp.join(out_dir, f'layer_{l}.png'),
                   args.bins)
    with open(osp.join(out_dir, 'burstiness.json'), 'w') as f:
        json.dump(
            dict(
                num_images=args.num_images,
                qk_product=qk_product,
                whitening=sources,
                layers=table),
            f,
            indent=1)
    print(f'Histograms and burstiness.json written to {out_dir}')
