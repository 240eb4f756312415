"""What one mixed batch over a shared backbone costs against one prompted
model, and against running each task's own model on its images."""
import time
from typing import Dict, List, Sequence

import torch
import torch.nn as nn
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS

from mmprompt.evaluation import ratio_interval, round_order
from .multi_task_vit import MultiTaskPromptViT


def tensor_bytes(module: nn.Module) -> int:
    """Bytes of the distinct tensors (parameters and buffers) a module
    holds: a tensor shared by several sub-modules counts once."""
    seen = {}
    for t in list(module.parameters()) + list(module.buffers()):
        seen[t.data_ptr()] = t.numel() * t.element_size()
    return sum(seen.values())


def task_bytes(model: nn.Module) -> int:
    """Bytes of what a task adds to the shared backbone: prompts and what
    is not the backbone (head, neck)."""
    return sum(t.numel() * t.element_size()
               for n, t in list(model.named_parameters()) +
               list(model.named_buffers())
               if not n.startswith('backbone.') or '.prompts.' in f'.{n}')


def build_tasks(num_tasks: int, arch, img_size: int, patch_size: int,
                num_prompts: int, num_classes: int) -> Dict[str, nn.Module]:
    """``num_tasks`` VPT-Deep classifiers (random prompts and heads)."""
    width = (VisionTransformer.arch_zoo[arch]
             if isinstance(arch, str) else arch)['embed_dims']
    return {
        f'task{t}':
        MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(
                    type='mmprompt.PromptViT',
                    arch=arch,
                    img_size=img_size,
                    patch_size=patch_size,
                    num_prompts=num_prompts,
                    prompt_mode='deep'),
                head=dict(
                    type='LinearClsHead',
                    num_classes=num_classes,
                    in_channels=width))).eval()
        for t in range(num_tasks)
    }


def mixed_batch_costs(task_counts: Sequence[int] = (1, 3, 10, 30),
                      batch_size: int = 32,
                      num_prompts: int = 50,
                      arch='b',
                      img_size: int = 224,
                      patch_size: int = 16,
                      num_classes: int = 10,
                      rounds: int = 4,
                      warmup: int = 1,
                      seed: int = 0,
                      log=print) -> List[dict]:
    """For each T in ``task_counts``: a batch of ``batch_size`` images of
    T tasks (deep prompts, ``num_prompts`` per layer; images dealt to the
    tasks in turn) through one :class:`MultiTaskPromptViT`, against

    - one prompted model on a batch of one task (``throughput``: its time
      over the mixed batch's; 1 means the mixed batch costs nothing more),
    - each task's own model run on its images, one after the other
      (``vs_separate``: their summed time over the mixed batch's).

    Each is a geometric mean over ``rounds`` paired rounds (the order of
    the runs reversed every other round, ``warmup`` rounds dropped) with
    its 95 % t interval. Memory is exact, not measured: the bytes of the
    bundle's tensors, the bound one backbone + T x (prompts + head) + 10 %,
    and T separate models.
    """
    torch.manual_seed(seed)
    largest = max(task_counts)
    tasks = build_tasks(largest, arch, img_size, patch_size, num_prompts,
                        num_classes)
    shared = tasks['task0'].backbone
    inputs = torch.randn(batch_size, 3, img_size, img_size)
    bundles = {
        T:
        MultiTaskPromptViT(shared,
                           {f'task{t}': tasks[f'task{t}']
                            for t in range(T)})
        for T in task_counts
    }
    single = tasks['task0']
    runs = {'single': lambda: single.predict(inputs)}
    for T, bundle in bundles.items():
        index = torch.arange(batch_size) % T
        runs[f'mixed{T}'] = (lambda b=bundle, i=index: b(inputs, i))

        def separate(T=T, index=index):
            for t in range(T):
                mine = index == t
                if mine.any():
                    tasks[f'task{t}'].predict(inputs[mine])

        runs[f'separate{T}'] = separate
    times = {k: [] for k in runs}
    with torch.no_grad():
        for r in range(warmup + rounds):
            for name in round_order(runs, r):
                start = time.perf_counter()
                runs[name]()
                if r >= warmup:
                    times[name].append(time.perf_counter() - start)
            log(f'round {r + 1}/{warmup + rounds}' +
                (' (warm-up)' if r < warmup else '') + ': ' +
                ', '.join(f'{k} {v[-1]:.2f}s'
                          for k, v in times.items() if v and r >= warmup))
    backbone_bytes = tensor_bytes(shared) - tensor_bytes(shared.prompts)
    rows = []
    for T, bundle in bundles.items():
        per_task = [task_bytes(tasks[f'task{t}']) for t in range(T)]
        bound = (backbone_bytes + sum(per_task)) * 1.1
        rows.append(
            dict(
                tasks=T,
                throughput=ratio_interval(times['single'], times[f'mixed{T}']),
                vs_separate=ratio_interval(times[f'separate{T}'],
                                           times[f'mixed{T}']),
                mixed_s=times[f'mixed{T}'],
                single_s=times['single'],
                separate_s=times[f'separate{T}'],
                bundle_bytes=tensor_bytes(bundle),
                bound_bytes=int(bound),
                separate_bytes=T * backbone_bytes + sum(per_task)))
    return rows


def costs_table(rows: List[dict]) -> str:
    """The rows of :func:`mixed_batch_costs` as a Markdown table."""

    def iv(v):
        return f'{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]'

    lines = [
        '| tasks T | throughput vs one prompted model | speed-up vs T '
        'separate models | bundle MB | bound MB | T models MB |',
        '|---|---|---|---|---|---|'
    ]
    for r in rows:
        lines.append(f"| {r['tasks']} | {iv(r['throughput'])} | "
                     f"{iv(r['vs_separate'])} | "
                     f"{r['bundle_bytes'] / 2**20:.1f} | "
                     f"{r['bound_bytes'] / 2**20:.1f} | "
                     f"{r['separate_bytes'] / 2**20:.1f} |")
    return '\n'.join(lines)
