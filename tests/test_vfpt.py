"""VFPT: Fourier prompts against a hand-written reference of the released
formula (runtsang/VFPT, src/models/vit_prompt/vit_VFPT.py), inside PromptViT
and PromptSwin."""
import math

import pytest
import torch
import torch.nn as nn

import mmprompt  # noqa: F401
from mmprompt.methods.vfpt import FourierPrompt
from mmprompt.registry import MODELS
from helpers import tiny_swin, tiny_vit

M, D = 10, 16


def released_prompts(learnt, batch, ratio, dims, location, mask=None):
    """The released incorporate_prompt / forward_deep_prompt, written out:
    ``floor(NUM_TOKENS * FOURIER_PERCENTAGE)`` Fourier tokens taken from the
    first rows, dropout on the expanded tokens before ``self.FT``, and
    ``FNetBlock``: ``torch.fft.fft(torch.fft.fft(x, dim=-1), dim=-2).real``
    (``_sequence``: dim=-2 only, ``_hidden``: dim=-1 only)."""
    num = learnt.shape[0]
    m = math.floor(num * ratio)
    emb = learnt.expand(batch, -1, -1)
    if mask is not None:  # the released prompt_dropout, one mask per image
        emb = emb * mask
    if m == 0:  # FOURIER_PERCENTAGE == 0.0: the VPT branch
        return emb
    fourier, plain = emb[:, :m], emb[:, m:]
    if dims == 'all':
        fourier = torch.fft.fft(torch.fft.fft(fourier, dim=-1), dim=-2).real
    elif dims == 'sequence':
        fourier = torch.fft.fft(fourier, dim=-2).real
    else:
        fourier = torch.fft.fft(fourier, dim=-1).real
    if m == num:
        return fourier
    if location == 'prepend':
        return torch.cat((fourier, plain), dim=1)
    return torch.cat((plain, fourier), dim=1)


def generator(**kwargs):
    torch.manual_seed(0)
    return FourierPrompt(M, D, uniform_bound=0.1, **kwargs)


@pytest.mark.parametrize('ratio', [0., 0.25, 0.3, 0.5, 1.0])
@pytest.mark.parametrize('dims', ['all', 'sequence', 'hidden'])
@pytest.mark.parametrize('location', ['prepend', 'append'])
def test_prompts_equal_the_released_formula(ratio, dims, location):
    g = generator(fourier_ratio=ratio, fourier_dims=dims, location=location)
    expected = released_prompts(g.tokens.detach(), 1, ratio, dims, location)[0]
    assert g.num_fourier == math.floor(M * ratio)
    torch.testing.assert_close(g().detach(), expected, rtol=1e-5, atol=1e-5)
    if 0 < ratio < 1:  # the transform changes the Fourier rows only
        plain = g.tokens.detach()[g.num_fourier:]
        rows = slice(g.num_fourier, None) if location == 'prepend' \
            else slice(0, M - g.num_fourier)
        assert torch.equal(g().detach()[rows], plain)


class FixedMask(nn.Module):
    """A dropout whose per-image mask is given (to check the order)."""

    def __init__(self, mask):
        super().__init__()
        self.mask = mask

    def forward(self, x):
        assert x.shape == self.mask.shape
        return x * self.mask


def test_dropout_acts_before_the_transform_per_image():
    g = generator(fourier_ratio=0.5)
    mask = (torch.rand(3, M, D, generator=torch.Generator().manual_seed(1))
            > 0.3).float() / 0.7
    out = g.per_image(g(), FixedMask(mask), 3)
    expected = released_prompts(g.tokens.detach(), 3, 0.5, 'all', 'prepend',
                                mask)
    torch.testing.assert_close(out.detach(), expected, rtol=1e-5, atol=1e-5)
    # dropout after the transform would differ
    after = g().detach().expand(3, -1, -1) * mask
    assert (after - expected).abs().max() > 1e-2


def vit(prompt_cfg, **kwargs):
    torch.manual_seed(0)
    return tiny_vit(num_prompts=4, prompt_cfg=prompt_cfg, **kwargs).eval()


@pytest.mark.parametrize('mode', ['deep', 'shallow'])
def test_prompt_vit_runs_the_fourier_prompts_of_every_layer(mode):
    """A PromptViT with Fourier prompts equals one with plain prompts set
    to the released transform of the same learnt tokens."""
    fourier = vit(
        dict(type='mmprompt.FourierPrompt', fourier_ratio=0.5),
        prompt_mode=mode)
    plain = vit(dict(type='mmprompt.PromptTokens'), prompt_mode=mode)
    plain.load_state_dict(fourier.state_dict())
    with torch.no_grad():
        for g, p in zip(fourier.prompts, plain.prompts):
            p.tokens.copy_(
                released_prompts(g.tokens, 1, 0.5, 'all', 'prepend')[0])
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(fourier(x)[0], plain(x)[0])
    # the per-image path (no shared prefix) gives the same outputs
    fourier.share_prompt_prefix = False
    torch.testing.assert_close(fourier(x)[0], plain(x)[0])


def test_prompt_vit_drops_out_before_the_transform_in_training():
    """In training, the tokens entering each layer hold every image's
    released prompts: its own dropout mask, then the transform."""
    model = vit(
        dict(type='mmprompt.FourierPrompt', fourier_ratio=0.5),
        share_prompt_prefix=False).train()
    masks = (torch.rand(2, 4, 32, generator=torch.Generator().manual_seed(2))
             > 0.5).float() * 2
    model.prompt_dropout = FixedMask(masks)
    for layer in range(len(model.prompts)):
        model.request_taps(layer, ['layer_input'])
    out = model(torch.randn(2, 3, 32, 32))[0]
    for layer, g in enumerate(model.prompts):
        entering = model.tap_outputs[layer]['layer_input'][:, 1:5]
        expected = released_prompts(g.tokens.detach(), 2, 0.5, 'all',
                                    'prepend', masks)
        torch.testing.assert_close(
            entering.detach(), expected, rtol=1e-5, atol=1e-5)
    (out**2).sum().backward()  # the learnt tokens get gradients
    assert all(g.tokens.grad.abs().sum() > 0 for g in model.prompts)


def test_prompt_swin_takes_fourier_prompts():
    torch.manual_seed(0)
    swin = tiny_swin(
        num_prompts=4,
        prompt_cfg=dict(type='mmprompt.FourierPrompt', fourier_ratio=0.5))
    assert all(isinstance(g, FourierPrompt) for g in swin.prompts)
    out = swin.eval()(torch.randn(1, 3, 32, 32))
    assert torch.isfinite(out[-1]).all()


@pytest.mark.parametrize('kwargs, message', [
    (dict(fourier_ratio=1.5), 'fourier_ratio must be a number in [0, 1], '
     'got 1.5'),
    (dict(fourier_ratio=True), 'fourier_ratio must be a number in [0, 1], '
     'got True'),
    (dict(fourier_dims='width'), "Unknown fourier_dims 'width'"),
    (dict(location='random'), "Unknown location 'random'"),
])
def test_bad_arguments_name_the_field(kwargs, message):
    with pytest.raises(ValueError) as err:
        MODELS.build(
            dict(
                type='mmprompt.FourierPrompt',
                num_tokens=M,
                embed_dims=D,
                uniform_bound=0.1,
                **kwargs))
    assert message in str(err.value)


def test_condensing_fourier_prompts_is_refused():
    model = vit(dict(type='mmprompt.FourierPrompt'))
    with pytest.raises(NotImplementedError, match='FourierPrompt cannot'):
        model.keep_prompts([torch.tensor([0, 1])] * len(model.prompts))
