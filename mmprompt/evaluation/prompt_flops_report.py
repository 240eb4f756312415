"""FLOPs and latency of a prompted ViT against its number of prompts.

Usage::

    python tools/analysis/prompt_flops.py [--arch b] [--img-size 224]
        [--patch-size 16] [--prompts 0 50 100 150 200] [--mode deep]
        [--latency --batch-size 8 --repeats 10 --device cpu]
        [--out-dir work_dirs/prompt_flops]

FLOPs are counted by mmengine's FlopAnalyzer (multiply-adds) on one image;
prompt counts are tokens per layer. Two counts per row: ``GFLOPs``, what
PromptViT runs for a classifier (deep mode skips the query, projection and
FFN rows of the prompt outputs the next layer discards, and the last layer
computes the CLS row only), and ``GFLOPs, every output``, the same model
made to compute every output (``out_type='raw'`` at every layer), which is
how the papers count: ViT-B/16 at 224, 0 -> 17.6, 50 -> 22.2, 100 -> 26.9,
150 -> 31.8, 200 -> 36.7 GFLOPs.
Prints a markdown table and writes ``prompt_flops.json`` and
``prompt_flops.png`` to ``--out-dir``.
"""
import argparse
import json
import os
import os.path as osp

from matplotlib.figure import Figure

from mmprompt.core import PromptViT
from mmprompt.evaluation.complexity import prompt_count_sweep


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', default='b')
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument(
        '--prompts', type=int, nargs='+', default=[0, 50, 100, 150, 200])
    parser.add_argument('--mode', default='deep', choices=['deep', 'shallow'])
    parser.add_argument(
        '--latency', action='store_true', help='also time inference forwards')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out-dir', default='work_dirs/prompt_flops')
    return parser.parse_args()


def main():
    args = parse_args()

    def build(count, **kwargs):
        return PromptViT(
            arch=args.arch,
            img_size=args.img_size,
            patch_size=args.patch_size,
            num_prompts=count,
            prompt_mode=args.mode,
            **kwargs)

    depth = build(0).num_layers

    def build_all_outputs(count):
        # an output of every layer that shows every token: each layer
        # computes all its outputs, as the papers' implementations do
        return build(count, out_type='raw', out_indices=list(range(depth)))

    rows = prompt_count_sweep(
        build,
        args.prompts,
        args.img_size,
        latency=args.latency,
        batch_size=args.batch_size,
        repeats=args.repeats,
        device=args.device)
    for row, full in zip(
            rows,
            prompt_count_sweep(build_all_outputs, args.prompts,
                               args.img_size)):
        row['gflops_every_output'] = full['gflops']
    header = '| prompts | GFLOPs | GFLOPs, every output |' + (
        f' latency (ms, batch {args.batch_size}) |' if args.latency else '')
    print(header)
    print('|' + '---|' * (header.count('|') - 1))
    for row in rows:
        line = (f"| {row['num_prompts']} | {row['gflops']:.2f} | "
                f"{row['gflops_every_output']:.2f} |")
        if args.latency:
            line += f" {row['latency_ms']:.1f} |"
        print(line)

    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'prompt_flops.json'), 'w') as f:
        json.dump(dict(args=vars(args), rows=rows), f, indent=2)
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    counts = [r['num_prompts'] for r in rows]
    ax.plot(counts, [r['gflops'] for r in rows], 'o-', label='GFLOPs')
    ax.plot(
        counts, [r['gflops_every_output'] for r in rows],
        'o:',
        color='C2',
        label='GFLOPs, every output')
    ax.legend(loc='upper left', fontsize=8)
    ax.set_xlabel(f'prompts per layer ({args.mode})')
    ax.set_ylabel('GFLOPs')
    ax.set_title(f'ViT-{args.arch} /{args.patch_size} at {args.img_size}')
    if args.latency:
        ax2 = ax.twinx()
        ax2.plot(
            counts, [r['latency_ms'] for r in rows],
            's--',
            color='C1',
            label='latency')
        ax2.set_ylabel(f'latency (ms, batch {args.batch_size}, '
                       f'{args.device})')
    fig.tight_layout()
    out = osp.join(args.out_dir, 'prompt_flops.png')
    fig.savefig(out, dpi=120)
    print(f'Wrote {out} and prompt_flops.json')
