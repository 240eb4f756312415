"""Activation checkpointing of a function that acts on each token alone.

``torch.utils.checkpoint`` recomputes the whole function in the backward
pass: for a ViT layer's FFN (norm, first linear, activation) that
materialises the first linear's output, the activation's output and their
gradients for the whole batch at once, four to sixteen embedding widths
per token of one layer on top of what the forward pass saved, and fresh
buffers of that size each layer (on CPU, fresh pages: page faults).

A function that acts on each token alone (layer norm, linear layers,
element-wise activations: rows of ``(..., C)`` do not mix) can be
recomputed a block of tokens at a time instead. :func:`token_checkpoint`
runs the function once, without saving anything but its input, and in the
backward pass recomputes it and back-propagates through it on
``chunk_tokens`` tokens at a time: the same gradients (summed in another
order across the blocks), with buffers one block in size.

Random ops (dropout with p > 0 in training) would draw other masks block
by block; the caller keeps ``torch.utils.checkpoint`` for them.
"""
from typing import Callable, Sequence

import torch
import torch.nn as nn

__all__ = ['token_checkpoint']


def token_checkpoint(fn: Callable[[torch.Tensor], torch.Tensor],
                     x: torch.Tensor,
                     params: Sequence[nn.Parameter],
                     chunk_tokens: int = 1024) -> torch.Tensor:
    """``fn(x)``, keeping only ``x`` for the backward pass.

    Args:
        fn: A function of a (..., C) tensor that acts on each row alone
            and draws no random numbers.
        x: Its input; the leading dimensions are the tokens.
        params: The parameters ``fn`` uses. Those that require grad get
            their gradients.
        chunk_tokens: Tokens recomputed at a time in the backward pass.
    """
    if not isinstance(chunk_tokens, int) or chunk_tokens < 1:
        raise ValueError(
            f'chunk_tokens must be a positive int, got {chunk_tokens!r}')
    trainable = [p for p in params if p.requires_grad]
    return _TokenCheckpoint.apply(fn, chunk_tokens, x, *trainable)


def _autocast_state(device_type: str):
    return dict(
        device_type=device_type,
        enabled=torch.is_autocast_enabled(device_type),
        dtype=torch.get_autocast_dtype(device_type))


class _TokenCheckpoint(torch.autograd.Function):

    @staticmethod
    def forward(ctx, fn, chunk_tokens, x, *params):
        ctx.fn, ctx.chunk_tokens = fn, chunk_tokens
        # the forward pass ran under the caller's autocast; so must the
        # recomputation (custom functions' backward runs without it)
        ctx.autocast = _autocast_state(x.device.type)
        ctx.params = params  # leaves: the same objects ``fn`` uses
        ctx.save_for_backward(x)
        return fn(x)

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        params = list(ctx.params)
        needs_x = ctx.needs_input_grad[2]
        rows = x.reshape(-1, x.shape[-1])
        grads = grad.reshape(-1, grad.shape[-1])
        grad_x = torch.empty_like(rows) if needs_x else None
        grad_params = [None] * len(params)
        step = ctx.chunk_tokens
        for start in range(0, rows.shape[0], step):
            block = rows[start:start + step].detach().requires_grad_(needs_x)
            with torch.enable_grad(), torch.autocast(**ctx.autocast):
                out = ctx.fn(block)
            wrt = ([block] if needs_x else []) + params
            got = torch.autograd.grad(
                out, wrt, grads[start:start + step], allow_unused=True)
            if needs_x:
                grad_x[start:start + step] = got[0]
                got = got[1:]
            for i, g in enumerate(got):
                if g is not None:
                    grad_params[i] = g if grad_params[i] is None else \
                        grad_params[i] + g
        grad_x = grad_x.view_as(x) if needs_x else None
        return (None, None, grad_x, *grad_params)
