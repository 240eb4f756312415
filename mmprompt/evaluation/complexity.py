"""FLOPs and latency of prompted backbones.

FLOPs come from mmengine's jit-based ``FlopAnalyzer`` (one multiply-add
counts as one flop, as in fvcore and the papers' tables). The analyzer has no
handle for ``aten::scaled_dot_product_attention``, which mmpretrain's
attention calls, so one is registered here: the two attention matmuls
(Q·Kᵀ and A·V) that the analyzer would count in an explicit implementation.
"""
import time
from typing import Any, List, Sequence

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """Flops of ``scaled_dot_product_attention(q, k, v, ...)``:
    B·H·Lq·Lk·d for Q·Kᵀ plus B·H·Lq·Lk·dv for A·V."""
    q, k, v = (get_shape(x) for x in inputs[:3])
    *batch, lq, d = q
    lk, dv = k[-2], v[-1]
    n = 1
    for b in batch:
        n *= b
    return n * lq * lk * (d + dv)


def count_flops(model: nn.Module, inputs: Any) -> int:
    """Total flops of ``model(*inputs)`` by mmengine's FlopAnalyzer."""
    was_training = model.training
    model.eval()
    try:
        analyzer = FlopAnalyzer(model, inputs)
        analyzer.set_op_handle(
            **{'aten::scaled_dot_product_attention': sdpa_flop_jit})
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        return int(analyzer.total())
    finally:
        model.train(was_training)


def measure_latency(model: nn.Module,
                    inputs: torch.Tensor,
                    repeats: int = 10,
                    warmup: int = 2) -> float:
    """Median seconds of one inference forward (``torch.no_grad``)."""
    was_training = model.training
    model.eval()
    cuda = inputs.is_cuda
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(inputs)
            if cuda:
                torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    model.train(was_training)
    return sorted(times)[len(times) // 2]


def prompt_count_sweep(build_backbone,
                       prompt_counts: Sequence[int],
                       img_size: int,
                       latency: bool = False,
                       batch_size: int = 1,
                       repeats: int = 10,
                       device: str = 'cpu') -> List[dict]:
    """FLOPs (and optionally latency) of ``build_backbone(num_prompts)`` for
    each count, on a ``batch_size`` x 3 x img x img input."""
    rows = []
    for count in prompt_counts:
        model = build_backbone(count).to(device)
        x = torch.randn(1, 3, img_size, img_size, device=device)
        row = dict(num_prompts=count, gflops=count_flops(model, (x, )) / 1e9)
        if latency:
            xb = torch.randn(batch_size, 3, img_size, img_size, device=device)
            row['latency_ms'] = 1e3 * measure_latency(model, xb, repeats)
        rows.append(row)
    return rows
