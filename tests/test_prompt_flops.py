import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import mmprompt  # noqa: F401
from mmprompt.core import PromptViT
from mmprompt.evaluation.complexity import (count_flops, measure_latency,
                                            prompt_count_sweep)
from mmprompt.methods.pc import condense_prompts

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAPER_GFLOPS = {0: 17.6, 50: 22.2, 100: 26.9, 150: 31.8, 200: 36.7}


@pytest.mark.slow
def test_vit_b16_gflops_match_the_paper_within_2_percent():
    # The papers count every prompt output; a PromptViT whose outputs show
    # the prompts at every layer computes them all.
    rows = prompt_count_sweep(
        lambda n: PromptViT(
            arch='b',
            num_prompts=n,
            out_type='raw',
            out_indices=list(range(12))),
        list(PAPER_GFLOPS),
        img_size=224)
    for row in rows:
        paper = PAPER_GFLOPS[row['num_prompts']]
        assert row['gflops'] == pytest.approx(paper, rel=0.02), row


@pytest.mark.parametrize('arch,num_layers,img,patch', [
    ('b', 12, 224, 16),
    (dict(embed_dims=32, num_layers=4, num_heads=4,
          feedforward_channels=48), 4, 32, 8),
])
@pytest.mark.slow
def test_deep_vpt_skips_exactly_the_discarded_prompt_rows(
        arch, num_layers, img, patch):
    """Outputs that nothing reads are not computed (deep: every layer's
    prompt outputs; shallow: the last layer's; a classifier's last layer:
    every row but CLS): there each row gives keys and values but no
    attention output, projection, second norm or FFN row (the fused qkv
    linear still makes its query)."""
    kw = dict(arch=arch, img_size=img, patch_size=patch)
    x = (torch.randn(1, 3, img, img), )
    m = 20
    model = PromptViT(**kw, num_prompts=m)
    every_output = PromptViT(
        **kw,
        num_prompts=m,
        out_type='raw',
        out_indices=list(range(num_layers)))
    d = model.embed_dims
    ffn = model.layers[0].ffn.feedforward_channels
    patches = (img // patch)**2
    tokens = 1 + patches + m  # keys each query row attends to
    per_row = d * d + 2 * d * ffn + 2 * tokens * d + 5 * d
    final_norm = 5 * d  # the last layer's skipped rows skip it too
    last_layer_patches = patches * (per_row + final_norm)
    assert count_flops(every_output, x) - count_flops(model, x) == \
        num_layers * m * per_row + m * final_norm + last_layer_patches
    shallow = PromptViT(**kw, num_prompts=m, prompt_mode='shallow')
    shallow_raw = PromptViT(
        **kw,
        num_prompts=m,
        prompt_mode='shallow',
        out_type='raw',
        out_indices=list(range(num_layers)))
    assert count_flops(shallow_raw, x) - count_flops(shallow, x) == \
        m * (per_row + final_norm) + last_layer_patches
    # taps reading the last layer's attention output keep every row
    tapped = PromptViT(**kw, num_prompts=m)
    tapped.request_taps(num_layers - 1, ['attn_output'])
    assert count_flops(tapped, x) - count_flops(model, x) == \
        last_layer_patches


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
    kw = dict(
        arch=dict(
            embed_dims=32, num_layers=4, num_heads=4, feedforward_channels=64),
        img_size=32,
        patch_size=8)
    x = (torch.randn(1, 3, 32, 32), )
    model = PromptViT(**kw, num_prompts=10)
    full = count_flops(model, x)
    condense_prompts(model, [torch.arange(3)] * 4)
    assert count_flops(model, x) == count_flops(
        PromptViT(**kw, num_prompts=3), x) < full
    assert measure_latency(model, x[0], repeats=2, warmup=1) > 0


@pytest.mark.slow
def test_prompt_flops_tool_writes_table_json_and_png(tmp_path):
    proc = subprocess.run([
        sys.executable, 'tools/analysis/prompt_flops.py', '--arch',
        'deit-tiny', '--prompts', '0', '10', '--latency', '--batch-size', '2',
        '--repeats', '2', '--out-dir',
        str(tmp_path)
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert ('| prompts | GFLOPs | GFLOPs, every output | '
            'latency (ms, batch 2) |') in proc.stdout
    lines = [
        line for line in proc.stdout.splitlines()
        if line.startswith('| 0 |') or line.startswith('| 10 |')
    ]
    assert len(lines) == 2
    none, ten = ([float(c) for c in line.split('|')[2:4]] for line in lines)
    # no prompts: the last layer's rows but CLS; deep: every prompt output
    assert none[0] < none[1] < ten[1] and none[0] < ten[0] < ten[1]
    rows = json.loads((tmp_path / 'prompt_flops.json').read_text())['rows']
    assert rows[1]['gflops'] == pytest.approx(ten[0], abs=0.01)
    assert (tmp_path / 'prompt_flops.png').stat().st_size > 1000
