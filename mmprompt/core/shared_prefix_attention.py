"""Attention whose keys and values begin with a prefix shared by the batch.

A shared-prefix layer (see :class:`~mmprompt.core.PromptViT`) attends
every image over ``[extra tokens, prompts, patches]``, where the prompts'
keys and values are one (heads, M, head_dims) tensor for the whole batch.
Concatenating them to each image's keys and values and calling
``scaled_dot_product_attention`` is exact, but autograd then saves the
concatenation: each image's copy of the prompt keys and values stays in
memory until the backward pass, about one embedding width per token of
the layer for 100 prompts over 197 tokens.

:func:`shared_prefix_attention` computes the same thing. Where the fused
CPU kernel runs (flash attention for CPU: no dropout, a supported dtype),
it saves the image keys and values and the prefix once, and rebuilds the
concatenation for the backward kernel, one layer at a time; the forward
and backward kernels and their inputs are those of the concatenated call,
so outputs and gradients are the same. Elsewhere (CUDA, dropout, the math
kernel, no gradient, tracing) it is the concatenated call, except in an
ONNX export (see ``_exported_attention``).
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend

__all__ = ['shared_prefix_attention', 'with_prefix']

# The kernels F.scaled_dot_product_attention runs on CPU when it picks
# SDPBackend.FLASH_ATTENTION, and its autograd formula's backward.
FLASH_CPU = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
FLASH_CPU_BACKWARD = \
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward


def with_prefix(tokens: torch.Tensor, prefix: torch.Tensor,
                at: int) -> torch.Tensor:
    """``tokens`` (B, H, L, d) with ``prefix`` (H, M, d) inserted before
    token ``at`` of every image."""
    B = tokens.shape[0]
    return torch.cat([
        tokens[:, :, :at],
        prefix.unsqueeze(0).expand(B, -1, -1, -1), tokens[:, :, at:]
    ],
                     dim=2)


def _autocast_dtype(device_type: str) -> Optional[torch.dtype]:
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return None


def _keeps_prefix_once(query, key, value, attn_mask, dropout_p) -> bool:
    """Whether the saving path applies: a gradient is needed, the
    concatenated call would run flash attention for CPU, and nothing
    traces the graph (the FLOP counter and the ONNX exporter see the
    plain ``scaled_dot_product_attention``)."""
    if (not torch.is_grad_enabled() or dropout_p or query.device.type != 'cpu'
            or torch.jit.is_tracing()):
        return False
    if attn_mask is not None:  # as wide as the keys it is asked with
        attn_mask = attn_mask[..., :key.shape[-2]]
    choice = torch._fused_sdp_choice(query, key, value, attn_mask)
    return SDPBackend(choice) == SDPBackend.FLASH_ATTENTION


class _PrefixSavedOnce(torch.autograd.Function):
    """Flash attention for CPU over ``with_prefix`` keys and values in
    ``dtype`` that keeps the prefix once for the backward pass. Casts and
    batch sums run as autograd runs them for the concatenated call under
    autocast: the gradients come back in each input's dtype, and the
    prefix's is summed over the batch in the prefix's dtype."""

    @staticmethod
    def forward(ctx, dtype, query, key, value, prefix_key, prefix_value, at,
                attn_mask):
        ctx.dtypes = [
            t.dtype for t in (query, key, value, prefix_key, prefix_value)
        ]
        query, key, value, prefix_key, prefix_value = (
            t.to(dtype) for t in (query, key, value, prefix_key, prefix_value))
        out, logsumexp = FLASH_CPU(
            query,
            with_prefix(key, prefix_key, at),
            with_prefix(value, prefix_value, at),
            0.,
            False,
            attn_mask=attn_mask)
        ctx.save_for_backward(query, key, value, prefix_key, prefix_value, out,
                              logsumexp, attn_mask)
        ctx.at = at
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (query, key, value, prefix_key, prefix_value, out, logsumexp,
         attn_mask) = ctx.saved_tensors
        at, M = ctx.at, prefix_key.shape[1]
        grad_q, grad_k, grad_v = FLASH_CPU_BACKWARD(
            grad_out,
            query,
            with_prefix(key, prefix_key, at),
            with_prefix(value, prefix_value, at),
            out,
            logsumexp,
            0.,
            False,
            attn_mask=attn_mask)
        dtype_q, dtype_k, dtype_v, dtype_pk, dtype_pv = ctx.dtypes

        def split(grad, dtype, prefix_dtype):
            """The image part, and the prefix part summed over the batch."""
            image = torch.cat([grad[:, :, :at], grad[:, :, at + M:]], dim=2)
            prefix = grad[:, :, at:at + M].to(prefix_dtype).sum(0)
            return image.to(dtype), prefix

        grad_k, grad_prefix_k = split(grad_k, dtype_k, dtype_pk)
        grad_v, grad_prefix_v = split(grad_v, dtype_v, dtype_pv)
        return (None, grad_q.to(dtype_q), grad_k, grad_v, grad_prefix_k,
                grad_prefix_v, None, None)


def _exported_attention(query, key, value, prefix_key, prefix_value):
    """The attention an ONNX export traces: the prefix first among the
    keys (without a mask, the order of the keys does not change the
    result), the prefix's keys stored transposed, the scale on the queries
    only. The exporter's own ``scaled_dot_product_attention`` would split
    each image's keys around the prefix, concatenate, and transpose and
    scale the concatenation (prefix included) in every forward; here the
    transposes of the prefix fold into a constant and each image's keys
    are transposed once, straight from the fused q/k/v projection."""
    # (sizes spelled out: an expand to -1 exports as shape arithmetic)
    B, (H, M, d) = query.shape[0], prefix_key.shape
    keys_t = torch.cat([
        prefix_key.transpose(-2, -1).unsqueeze(0).expand(B, H, d, M),
        key.transpose(-2, -1)
    ],
                       dim=-1)
    values = torch.cat([prefix_value.unsqueeze(0).expand(B, H, M, d), value],
                       dim=2)
    weights = torch.softmax((query * query.shape[-1]**-0.5) @ keys_t, dim=-1)
    return weights @ values


def shared_prefix_attention(query: torch.Tensor,
                            key: torch.Tensor,
                            value: torch.Tensor,
                            prefix_key: torch.Tensor,
                            prefix_value: torch.Tensor,
                            at: int,
                            attn_mask: Optional[torch.Tensor] = None,
                            dropout_p: float = 0.) -> torch.Tensor:
    """``F.scaled_dot_product_attention(query, with_prefix(key, prefix_key,
    at), with_prefix(value, prefix_value, at), attn_mask, dropout_p)``
    (default scale), without saving each image's copy of the prefix for
    the backward pass where the fused CPU kernel runs.

    Args:
        query (Tensor): (B, H, Lq, d).
        key, value (Tensor): each image's keys and values, (B, H, L, d).
        prefix_key, prefix_value (Tensor): (H, M, d), the same for every
            image.
        at (int): where the prefix goes among each image's tokens.
        attn_mask (Tensor, optional): (Lq, L + M) float or bool, over the
            keys with the prefix inserted; it takes no gradient.
        dropout_p (float): attention dropout.
    """
    if torch.onnx.is_in_onnx_export() and attn_mask is None \
            and not dropout_p:
        return _exported_attention(query, key, value, prefix_key, prefix_value)
    # as autocast casts scaled_dot_product_attention's float32 inputs
    dtype = _autocast_dtype(query.device.type)
    inputs = (query, key, value, prefix_key, prefix_value)
    if dtype is None or any(t.dtype != torch.float32 and t.dtype != dtype
                            for t in inputs):
        dtype = torch.promote_types(query.dtype, key.dtype)
    cast = [t.to(dtype) for t in (query, key, value)]
    if _keeps_prefix_once(*cast, attn_mask, dropout_p):
        with torch.autocast(query.device.type, enabled=False):
            return _PrefixSavedOnce.apply(dtype, *inputs, at, attn_mask)
    return F.scaled_dot_product_attention(
        query,
        with_prefix(key, prefix_key, at),
        with_prefix(value, prefix_value, at),
        attn_mask=attn_mask,
        dropout_p=dropout_p)
