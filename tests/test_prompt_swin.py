"""PromptSwin: VPT's prompted Swin on mmpretrain's SwinTransformer.

The prompted forward is checked against a hand-written reference of the
rules (prompts prepended to every window of their image, no relative
position bias and no mask for them, outputs averaged over the windows,
excluded from shift and partition, merged as a 2x2 patch of copies),
written image by image and window by window with explicit loops.
"""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models import SwinTransformer
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmprompt  # noqa: F401
from mmprompt.core import PromptSwin
from mmprompt.methods.pc import condense_prompts, score_prompts, select_prompts
from helpers import (TINY_SWIN, bad_input_params, call, check_bad_input, text,
                     tiny_swin)

# 32 px, 2 px patches: 16x16 tokens in windows of 4 (16 windows, shift 2),
# then 8x8 (4 windows, shift 2), then 4x4 (one window: no shift)
TINY = TINY_SWIN
KW = dict(
    arch=TINY,
    img_size=32,
    patch_size=2,
    window_size=4,
    out_indices=(0, 1, 2),
    drop_path_rate=0.)


def pair(num_prompts, mode='deep', seed=0):
    torch.manual_seed(seed)
    plain = SwinTransformer(**KW)
    prompted = PromptSwin(
        **KW,
        num_prompts=num_prompts,
        prompt_mode=mode,
        prompt_init='normal',
        prompt_std=0.5)
    missing, unexpected = prompted.load_state_dict(
        plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith('prompts.') for k in missing)
    plain.eval()
    prompted.eval()
    return plain, prompted


def test_zero_prompts_equal_mmpretrain_swin():
    plain, prompted = pair(0)
    x = torch.randn(2, 3, 32, 32)
    for a, b in zip(plain(x), prompted(x)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    plain, prompted = pair(0, 'shallow')
    for a, b in zip(plain(x), prompted(x)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# ------------------------------------------------------------ reference
def region_ids(H, W, ws, shift):
    """Swin's shifted-window regions of the (padded) map."""
    ids = torch.zeros(H, W)
    cnt = 0
    for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
        for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
            ids[hs, wsl] = cnt
            cnt += 1
    return ids


def ref_window_attention(w_msa, p, win, win_ids):
    """One window of one image: tokens [p (M), win (n)], logits with the
    relative bias between window tokens only and -100 between window tokens
    of different shift regions."""
    M, n, C = p.shape[0], win.shape[0], win.shape[1]
    heads = w_msa.num_heads
    d = C // heads
    t = torch.cat([p, win])
    qkv = w_msa.qkv(t).view(M + n, 3, heads, d)
    out = torch.zeros(M + n, heads, d)
    wh, ww = w_msa.window_size
    bias = w_msa.relative_position_bias_table[
        w_msa.relative_position_index.view(-1)].view(wh * ww, wh * ww, heads)
    for h in range(heads):
        q, k, v = qkv[:, 0, h], qkv[:, 1, h], qkv[:, 2, h]
        logits = (q * d**-0.5) @ k.t()
        for i in range(n):
            for j in range(n):
                logits[M + i, M + j] += bias[i, j, h]
                if win_ids is not None and win_ids[i] != win_ids[j]:
                    logits[M + i, M + j] += -100.
        out[:, h] = logits.softmax(-1) @ v
    return w_msa.proj(out.reshape(M + n, C))


def ref_block(block, x, p, H, W):
    """A Swin block on one image: x (H*W, C), p (M, C)."""
    C = x.shape[1]
    M = p.shape[0]
    attn = block.attn
    ws, shift = attn.window_size, attn.shift_size
    if min(H, W) == ws:
        shift = 0
    h = block.norm1(torch.cat([p, x]))
    hp, hx = h[:M], h[M:].view(H, W, C)
    Hp, Wp = -(-H // ws) * ws, -(-W // ws) * ws
    hx = F.pad(hx, (0, 0, 0, Wp - W, 0, Hp - H))
    ids = region_ids(Hp, Wp, ws, shift) if shift else None
    if shift:
        hx = torch.roll(hx, (-shift, -shift), (0, 1))
    out_x = torch.zeros_like(hx)
    prompt_outs = []
    for r in range(0, Hp, ws):
        for c in range(0, Wp, ws):
            win = hx[r:r + ws, c:c + ws].reshape(-1, C)
            win_ids = None if ids is None else \
                ids[r:r + ws, c:c + ws].reshape(-1)
            o = ref_window_attention(attn.w_msa, hp, win, win_ids)
            prompt_outs.append(o[:M])
            out_x[r:r + ws, c:c + ws] = o[M:].view(ws, ws, C)
    if shift:
        out_x = torch.roll(out_x, (shift, shift), (0, 1))
    out_x = out_x[:H, :W].reshape(H * W, C)
    y = torch.cat([p, x]) + torch.cat(
        [torch.stack(prompt_outs).mean(0), out_x])
    y = y + block.ffn.layers(block.norm2(y))
    return y[M:], y[:M]


def ref_forward(model, img, mode):
    """The prompted Swin on one image, by the rules."""
    x, (H, W) = model.patch_embed(img[None])
    x = x[0]
    p = None
    j = 0
    outs = []
    for i, stage in enumerate(model.stages):
        for block in stage.blocks:
            if mode == 'deep' or j == 0:
                p = model.prompts[j]()
            if p.shape[0]:
                x, p = ref_block(block, x, p, H, W)
            else:
                x = block(x[None], (H, W))[0]
            j += 1
        out = getattr(model, f'norm{i}')(x)
        outs.append(out.view(H, W, -1).permute(2, 0, 1))
        if stage.downsample is not None:
            ds = stage.downsample
            x, (H, W) = ds(x[None], (H, W))
            x = x[0]
            # a 2x2 patch of copies: the merge's channels hold each input
            # channel 4 times in a row (unfold order)
            p = ds.reduction(ds.norm(p.repeat_interleave(4, dim=-1)))
    return outs


@pytest.mark.parametrize('mode,num_prompts', [('deep', [2, 3, 1]),
                                              ('deep', [2, 0, 3, 1, 2, 0]),
                                              ('shallow', 3)])
def test_prompted_forward_equals_the_reference(mode, num_prompts):
    _, model = pair(num_prompts, mode)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        outs = model(x)
        for b in range(2):  # each image by itself: no mixing of images
            for got, want in zip(outs, ref_forward(model, x[b], mode)):
                torch.testing.assert_close(got[b], want, rtol=1e-4, atol=1e-5)
    assert [tuple(o.shape) for o in outs] == [(2, 16, 16, 16), (2, 32, 8, 8),
                                              (2, 64, 4, 4)]


def test_prompts_change_the_output_and_non_square_inputs_work():
    plain, model = pair(2)
    x = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        a, b = plain(x)[-1], model(x)[-1]
    assert a.shape == b.shape == (1, 64, 4, 6)
    assert not torch.allclose(a, b)


def test_prompt_parameters_per_stage():
    model = PromptSwin(**KW, num_prompts=[2, 3, 4])
    # deep: each block of a stage has its own prompts at the stage's width
    assert model.num_prompts == [2, 2, 3, 3, 4, 4]
    assert [g.embed_dims for g in model.prompts] == [16, 16, 32, 32, 64, 64]
    assert model.prompt_parameter_count == 2 * (2 * 16 + 3 * 32 + 4 * 64)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f'prompts.{j}.tokens' for j in range(6)}
    assert model.trainable_parameter_count() == model.prompt_parameter_count
    shallow = PromptSwin(**KW, num_prompts=5, prompt_mode='shallow')
    assert shallow.prompt_parameter_count == 5 * 16
    # frozen blocks stay in eval mode while training
    model.train()
    assert not model.stages[0].blocks[0].training and model.prompts.training


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_prompts=[1, 2]), r'num_prompts has 2 entries: give one per '
     r'stage \(3\) or one per block \(6\), got \[1, 2\]'),
    (dict(num_prompts=[1, 2, 3],
          prompt_mode='shallow'), r"prompt_mode='shallow' takes one int"),
    (dict(num_prompts=-1), r'num_prompts must be ints >= 0, got -1'),
    (dict(prompt_mode='wide'), r"Unknown prompt_mode 'wide'"),
    (dict(prompt_init='xavier'), r"Unknown prompt_init 'xavier'"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        PromptSwin(**KW, **kwargs)


def test_window_larger_than_the_map_without_padding_is_refused():
    model = PromptSwin(
        **dict(KW, window_size=16), num_prompts=1, pad_small_map=False)
    # 16x16 tokens: one window; then 8x8, smaller than a window
    with pytest.raises(
            ValueError,
            match=r'The input shape \(8, 8\) is '
            r'smaller than the window size \(16\)'):
        model(torch.randn(1, 3, 32, 32))


# ------------------------------------------------------------ PC on Swin
def classifier(num_prompts):
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=3),
            backbone=dict(
                type='mmprompt.PromptSwin',
                **KW,
                num_prompts=num_prompts,
                prompt_init='normal',
                prompt_std=0.5),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=64)))
    model.init_weights()
    return model


def test_condensation_scores_and_keeps_prompts_across_all_stages():
    model = classifier([4, 4, 4])
    g = torch.Generator().manual_seed(0)
    batch = dict(
        inputs=[
            torch.randint(0, 256, (3, 32, 32), generator=g, dtype=torch.uint8)
            for _ in range(4)
        ],
        data_samples=[DataSample().set_gt_label(i % 3) for i in range(4)])
    scores = score_prompts(model, [batch], 'taylor')
    assert [len(s) for s in scores] == [4] * 6
    # independent: the gradient of every block's token parameters
    model.eval()
    model.zero_grad()
    loss, _ = model.parse_losses(
        model(**model.data_preprocessor(batch, True), mode='loss'))
    loss.backward()
    for s, gen in zip(scores, model.backbone.prompts):
        p = gen.tokens
        torch.testing.assert_close(s,
                                   (p.detach() * p.grad).sum(-1).abs().float())
    # global top-k across the blocks of all stages
    keep = select_prompts(scores, keep_ratio=0.25)
    flat = torch.cat(scores)
    kept = torch.cat([s[k] for s, k in zip(scores, keep)])
    assert len(kept) == 6 and kept.min() >= flat.topk(6).values.min()
    tokens = [gen.tokens.detach().clone() for gen in model.backbone.prompts]
    counts = condense_prompts(model, keep)
    assert counts == model.backbone.num_prompts and sum(counts) == 6
    # the condensed model equals one built with the kept prompts
    direct = classifier(counts)
    direct.load_state_dict({
        k: v
        for k, v in model.state_dict().items() if 'kept_index' not in k
    })
    for i, k in enumerate(keep):
        assert torch.equal(direct.backbone.prompts[i].tokens, tokens[i][k])
    direct.eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(model(x, mode='tensor'), direct(x, mode='tensor'))


# ------------------------------------------------------------ bad input
def swin_window_larger_than_map(tmp_path, monkeypatch):
    # 32 px / 2 px patches: a 16x16 map, then 8x8, smaller than a window
    model = tiny_swin(
        window_size=16, num_prompts=1, pad_small_map=False).eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))


# (id, expected exception or warning, pattern of its message, action)
BAD_INPUT = [
    ('swin-window-larger-than-map', ValueError,
     text('The input shape (8, 8) is smaller than the window size (16)',
          'window_size'), swin_window_larger_than_map),
    ('swin-num_prompts-per-stage-wrong-length', ValueError,
     text('num_prompts has 2 entries: give one per stage (3) or one per '
          'block (6), got [1, 2]'), call(tiny_swin, num_prompts=[1, 2])),
    ('swin-num_prompts-negative', ValueError,
     text('num_prompts must be ints >= 0, got [1, -2, 3]'),
     call(tiny_swin, num_prompts=[1, -2, 3])),
]


@bad_input_params(BAD_INPUT)
def test_bad_input(expected, pattern, action, tmp_path, monkeypatch):
    check_bad_input(expected, pattern, action, tmp_path, monkeypatch)
