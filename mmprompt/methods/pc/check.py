"""Do Prompt Condensation's scores rank tokens better than chance?

    python tools/analysis/check_condensation.py CONFIG CHECKPOINT
        [--keep-ratios 0.3] [--draws 5] [--score taylor|magnitude]
        [--num-batches 10] [--split val|test] [--seed 0] [--out JSON]
        [--cfg-options ...]

A removal test on a trained prompted model (e.g. a VPT-Deep run): score its
prompt tokens as ``tools/condense.py`` does (``--num-batches`` training
batches), then for each keep ratio evaluate, without fine-tuning, the model
that keeps

- ``score``: the best-scored tokens (what PC keeps),
- ``lowest``: the worst-scored tokens (PC's order reversed),
- ``random``: ``--draws`` random token sets of the same size (seeded),

against the unpruned model (``all``), with the config's evaluator on the
``--split`` dataloader. Scores that carry information put ``score`` above
the random draws and ``lowest`` below them. One of the checks that tell a
failing PC claim from a defect.
"""
import argparse
import copy
import json
from itertools import islice

import torch
from mmengine.config import Config, DictAction
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint

import mmprompt  # noqa: F401
from mmprompt.methods.pc import (SCORE_METHODS, condensable_backbone,
                                 condense_prompts, score_prompts,
                                 select_prompts)
from mmprompt.utils import build_model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--keep-ratios', type=float, nargs='+', default=[0.3])
    parser.add_argument('--draws', type=int, default=5)
    parser.add_argument('--score', default='taylor', choices=SCORE_METHODS)
    parser.add_argument('--num-batches', type=int, default=10)
    parser.add_argument('--split', default='val', choices=['val', 'test'])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write the report as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if args.draws < 1:
        parser.error(f'--draws must be >= 1, got {args.draws}')
    if args.num_batches < 1:
        parser.error(f'--num-batches must be >= 1, got {args.num_batches}')
    return args


def selections(scores, keep_ratio, draws, seed):
    """``{name: kept token indices per layer}``: the best-scored, the
    worst-scored and ``draws`` random sets, all of the same size."""
    generator = torch.Generator().manual_seed(seed)
    chosen = dict(
        score=select_prompts(scores, keep_ratio),
        lowest=select_prompts([-s for s in scores], keep_ratio))
    for i in range(draws):
        chosen[f'random{i}'] = select_prompts(
            [torch.rand(len(s), generator=generator) for s in scores],
            keep_ratio)
    return chosen


def evaluate(model, batches, evaluator, size):
    model.eval()
    with torch.no_grad():
        for batch in batches:
            evaluator.process(model.val_step(batch), batch)
    return evaluator.evaluate(size)


def check(cfg,
          checkpoint,
          keep_ratios=(0.3, ),
          draws=5,
          score='taylor',
          num_batches=10,
          split='val',
          seed=0):
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = build_model(cfg)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    _, backbone = condensable_backbone(model)
    batches = None
    if score == 'taylor':
        batches = islice(
            iter(Runner.build_dataloader(cfg.train_dataloader)), num_batches)
    scores = score_prompts(model, batches, score)
    loader = Runner.build_dataloader(cfg[f'{split}_dataloader'])
    data = list(loader)  # the same batches for every variant
    evaluator = Evaluator(cfg[f'{split}_evaluator'])
    size = len(loader.dataset)
    report = dict(
        checkpoint=checkpoint,
        score=score,
        split=split,
        num_images=size,
        num_prompts=list(backbone.num_prompts),
        all=evaluate(model, data, evaluator, size),
        keep_ratios={})
    for ratio in keep_ratios:
        results = {}
        for name, keep in selections(scores, ratio, draws, seed).items():
            pruned = copy.deepcopy(model)
            counts = condense_prompts(pruned, keep)
            results[name] = dict(
                num_prompts=counts,
                kept_index=[k.tolist() for k in keep],
                metrics=evaluate(pruned, data, evaluator, size))
        report['keep_ratios'][str(ratio)] = results
    return report


def top1(metrics):
    return next(v for k, v in metrics.items() if k.endswith('top1'))


def summary(report):
    """Per keep ratio: top-1 of score, lowest, the random draws' mean and
    range, and whether score beats every random draw."""
    rows = {}
    for ratio, results in report['keep_ratios'].items():
        rand = [
            top1(r['metrics']) for k, r in results.items()
            if k.startswith('random')
        ]
        rows[ratio] = dict(
            score=top1(results['score']['metrics']),
            lowest=top1(results['lowest']['metrics']),
            random_mean=sum(rand) / len(rand),
            random_min=min(rand),
            random_max=max(rand),
            score_beats_every_random=top1(results['score']['metrics'])
            > max(rand))
    return rows


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    report = check(cfg, args.checkpoint, args.keep_ratios, args.draws,
                   args.score, args.num_batches, args.split, args.seed)
    report['summary'] = summary(report)
    print(f"unpruned top-1: {top1(report['all']):.2f} "
          f"({report['num_images']} {args.split} images)")
    for ratio, row in report['summary'].items():
        print(f"keep {ratio}: score {row['score']:.2f} | lowest "
              f"{row['lowest']:.2f} | random {row['random_mean']:.2f} "
              f"[{row['random_min']:.2f}, {row['random_max']:.2f}] "
              f'over {args.draws} draws')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
    return report
