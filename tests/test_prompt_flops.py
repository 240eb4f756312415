import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import mmprompt  # noqa: F401
from mmprompt.analysis.complexity import (count_flops, measure_latency,
                                          prompt_count_sweep)
from mmprompt.models import PromptViT
from mmprompt.models.utils import condense_prompts

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAPER_GFLOPS = {0: 17.6, 50: 22.2, 100: 26.9, 150: 31.8, 200: 36.7}


def test_vit_b16_gflops_match_the_paper_within_2_percent():
    rows = prompt_count_sweep(
        lambda n: PromptViT(arch='b', num_prompts=n), list(PAPER_GFLOPS),
        img_size=224)
    for row in rows:
        paper = PAPER_GFLOPS[row['num_prompts']]
        assert row['gflops'] == pytest.approx(paper, rel=0.02), row


def test_sdpa_handle_counts_the_two_attention_matmuls():

    class Explicit(torch.nn.Module):

        def forward(self, q, k, v):
            return torch.matmul(torch.matmul(q, k.transpose(-2, -1)), v)

    class Fused(torch.nn.Module):

        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v)

    q, k, v = torch.randn(2, 3, 7, 4), torch.randn(2, 3, 5, 4), \
        torch.randn(2, 3, 5, 6)
    expected = 2 * 3 * 7 * 5 * 4 + 2 * 3 * 7 * 5 * 6
    assert count_flops(Explicit(), (q, k, v)) == expected
    assert count_flops(Fused(), (q, k, v)) == expected


def test_condensed_model_has_the_flops_of_its_kept_prompts():
    kw = dict(arch=dict(embed_dims=32, num_layers=4, num_heads=4,
                        feedforward_channels=64), img_size=32, patch_size=8)
    x = (torch.randn(1, 3, 32, 32), )
    model = PromptViT(**kw, num_prompts=10)
    full = count_flops(model, x)
    condense_prompts(model, [torch.arange(3)] * 4)
    assert count_flops(model, x) == count_flops(
        PromptViT(**kw, num_prompts=3), x) < full
    assert measure_latency(model, x[0], repeats=2, warmup=1) > 0


def test_prompt_flops_tool_writes_table_json_and_png(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/analysis/prompt_flops.py', '--arch',
         'deit-tiny', '--prompts', '0', '10', '--latency', '--batch-size',
         '2', '--repeats', '2', '--out-dir', str(tmp_path)],
        cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '| prompts | GFLOPs | latency (ms, batch 2) |' in proc.stdout
    lines = [line for line in proc.stdout.splitlines()
             if line.startswith('| 0 |') or line.startswith('| 10 |')]
    assert len(lines) == 2
    assert float(lines[1].split('|')[2]) > float(lines[0].split('|')[2])
    assert (tmp_path / 'prompt_flops.png').stat().st_size > 1000
    assert (tmp_path / 'prompt_flops.json').exists()
