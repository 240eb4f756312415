import os.path as osp
import subprocess
import sys

import pytest
import torch

import mmprompt  # noqa: F401
from mmprompt.core import PromptViT
from mmprompt.evaluation.attention_rank import (attention_maps,
                                                attention_rank_summary,
                                                cumulative_eigenvalues,
                                                effective_rank)
from helpers import REPO


def test_attention_maps_equal_explicit_attention():
    torch.manual_seed(0)
    model = PromptViT(
        arch=dict(
            embed_dims=32, num_layers=2, num_heads=4, feedforward_channels=64),
        img_size=32,
        patch_size=8,
        num_prompts=[3, 5]).eval()
    x = torch.randn(2, 3, 32, 32)
    maps = attention_maps(model, x)
    assert [tuple(m.shape) for m in maps] == [(2, 4, 20, 20), (2, 4, 22, 22)]
    torch.testing.assert_close(maps[1].sum(-1), torch.ones(2, 4, 22))
    # explicit second layer: the layer input with p_1 in the slot
    h0 = model.layers[0](
        torch.cat([
            model.cls_token.expand(2, -1, -1), model.prompts[0].tokens.expand(
                2, -1, -1),
            model.patch_embed(x)[0] + model.pos_embed[:, 1:]
        ], 1) + torch.cat([
            model.pos_embed[:, :1],
            torch.zeros(1, 3, 32),
            torch.zeros(1, 16, 32)
        ], 1))
    h1 = torch.cat(
        [h0[:, :1], model.prompts[1].tokens.expand(2, -1, -1), h0[:, 4:]], 1)
    q, k, _ = model.layers[1].attn.qkv(model.layers[1].ln1(h1)).chunk(3, -1)
    q = q.reshape(2, 22, 4, 8).transpose(1, 2)
    k = k.reshape(2, 22, 4, 8).transpose(1, 2)
    expected = (q @ k.transpose(-2, -1) / 8**0.5).softmax(-1)
    torch.testing.assert_close(maps[1], expected, rtol=1e-4, atol=1e-6)
    assert model._tap_requests == {}


def test_cumulative_eigenvalues_and_effective_rank():
    # rank-one attention (every row the same): one eigenvalue holds all
    uniform = torch.full((1, 1, 6, 6), 1 / 6)
    curve = cumulative_eigenvalues(uniform)
    torch.testing.assert_close(curve, torch.ones(6), atol=1e-6, rtol=0)
    assert effective_rank(curve) == 1
    identity = torch.eye(6).reshape(1, 1, 6, 6)
    curve = cumulative_eigenvalues(identity)
    torch.testing.assert_close(curve, torch.arange(1, 7) / 6.)
    assert effective_rank(curve, 0.9) == 6
    assert effective_rank(curve, 0.5) == 3
    model = PromptViT(
        arch='deit-tiny', img_size=32, patch_size=8, num_prompts=4).eval()
    summary = attention_rank_summary(model, torch.randn(2, 3, 32, 32))
    assert summary['curves'].shape == (12, 1 + 4 + 16)
    assert len(summary['ranks']) == 12
    assert 1 <= summary['rank_mean'] <= 21


@pytest.mark.slow
def test_attention_rank_tool(setup, tmp_path):
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'analysis', 'attention_rank.py'), setup['cfg'],
        '--prompts', '0', '8', '--num-images', '4', '--out-dir',
        str(tmp_path)
    ],
                          cwd=REPO,
                          env=setup['env'],
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '0 prompts: 17 tokens, effective rank (90%)' in proc.stdout
    assert '8 prompts: 25 tokens' in proc.stdout
    assert (tmp_path / 'attention_rank.png').stat().st_size > 1000


@pytest.mark.slow
def test_attention_rank_tool_on_trained_checkpoints(setup, trained, tmp_path):
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'analysis', 'attention_rank.py'), setup['cfg'],
        '--checkpoints',
        str(trained / 'epoch_1.pth'),
        str(trained / 'epoch_2.pth'), '--num-images', '4', '--out-dir',
        str(tmp_path)
    ],
                          cwd=REPO,
                          env=setup['env'],
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'epoch_2.pth: 21 tokens, effective rank' in proc.stdout
    bad = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'analysis', 'attention_rank.py'), setup['cfg'],
        '--prompts', '4', '--num-images', '1000'
    ],
                         cwd=REPO,
                         env=setup['env'],
                         capture_output=True,
                         text=True)
    assert bad.returncode != 0
    assert '--num-images 1000: the test set has only 24 images' in bad.stderr
