"""One ViT layer run with prompts: the computation of mmpretrain's
``TransformerEncoderLayer`` with the reads methods need (taps), rows
nothing reads left out (prompt rows; all but the CLS row of a last layer
read through its CLS token), and prompts as a shared prefix."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from .shared_prefix_attention import shared_prefix_attention
from .token_checkpoint import token_checkpoint

# out_types whose outputs contain the prompt tokens
PROMPT_OUT_TYPES = ('raw', 'avg_prompt', 'avg_all', 'avg_all_tokens')


class PromptedLayerMixin:
    """``_layer_forward``, ``_drops_prompt_outputs``, ``_reads_cls_only``
    and the check of ``recompute_ffn`` of
    :class:`~mmprompt.core.PromptViT`."""

    def _layer_forward(self,
                       index: int,
                       layer: nn.Module,
                       x: torch.Tensor,
                       num_prompts: int,
                       drop_prompts: bool = False,
                       shared: Optional[torch.Tensor] = None,
                       cls_only: bool = False) -> torch.Tensor:
        """Run layer ``index`` on ``x`` (``num_prompts`` prompt tokens after
        the extra tokens), recording the requested taps.

        ``drop_prompts``: nothing reads the prompt outputs (see
        :meth:`_drops_prompt_outputs`), so only the other tokens get
        queries, attention output, projection and FFN; the prompts still
        give keys and values. The result then has no prompt tokens. The
        other tokens' outputs are those of the full layer: every step after
        the key/value projection is per token.

        ``shared``: the layer's ``num_prompts`` prompt tokens (M, D), the
        same for every image; ``x`` then holds the other tokens only. Their
        norm and q/k/v projections run once and are broadcast over the
        batch (the shared prefix).

        ``cls_only``: only the CLS output is read (see
        :meth:`_reads_cls_only`): every token still gives keys and values,
        but only the CLS row gets a query, attention output, projection and
        FFN, and the result is that row alone, (B, 1, C).
        """
        taps = self._tap_requests.get(index, ())
        record = self.tap_outputs.setdefault(index, {}) if taps else {}
        B = x.shape[0]
        n = self.num_extra_tokens

        def with_prompts(tokens, prompts):  # (B, L, C) and (M, C)
            return torch.cat([
                tokens[:, :n],
                prompts.unsqueeze(0).expand(B, -1, -1), tokens[:, n:]
            ],
                             dim=1)

        if 'layer_input' in taps:
            record['layer_input'] = x if shared is None else \
                with_prompts(x, shared)
        mask_prompts = self.prompts_see_patches_only and num_prompts > 0 \
            and not drop_prompts and not cls_only
        if shared is None and not drop_prompts and not mask_prompts and \
                not cls_only and not set(taps) - {'layer_input'} and \
                not self._recomputes_ffn(index):
            return layer(x)
        # The computation of TransformerEncoderLayer.forward and
        # MultiheadAttention.forward, with reads in between; it keeps the
        # fused scaled_dot_product_attention kernel.
        attn = layer.attn
        h = layer.ln1(x)
        qkv = attn.qkv(h)
        if shared is None:
            if 'attn_input' in taps:
                record['attn_input'] = h
            if 'query' in taps:
                record['query'] = qkv[:, :n + num_prompts, :self.embed_dims]
            q, k, v = qkv.reshape(B, qkv.shape[1], 3, attn.num_heads,
                                  attn.head_dims).permute(2, 0, 3, 1, 4)
            if drop_prompts:
                q = torch.cat([q[:, :, :n], q[:, :, n + num_prompts:]], dim=2)
                x = torch.cat([x[:, :n], x[:, n + num_prompts:]], dim=1)
        else:
            q, k, v, prefix, x = self._shared_prefix_qkv(
                layer, h, qkv, x, shared, drop_prompts, with_prompts, taps,
                record)
        del qkv
        if cls_only:  # (the rows before it were kept: extra tokens first)
            q, x = q[:, :, :1], x[:, :1]
        num_keys = k.shape[2] + (0 if shared is None else shared.shape[0])
        if drop_prompts:
            num_prompts = 0
        dropout_p = attn.attn_drop if attn.training else 0.
        attn_mask = None
        if mask_prompts:  # prompt queries see the patches only
            attn_mask = q.new_zeros(q.shape[2], num_keys)
            attn_mask[n:n + num_prompts, :n + num_prompts] = float('-inf')
        if shared is None:
            out = attn.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
        else:
            out = shared_prefix_attention(
                q, k, v, *prefix, n, attn_mask=attn_mask, dropout_p=dropout_p)
        out = out.transpose(1, 2).reshape(B, x.shape[1], attn.embed_dims)
        out = attn.out_drop(attn.gamma1(attn.proj_drop(attn.proj(out))))
        if 'attn_output' in taps:
            record['attn_output'] = out[:, n + num_prompts:]
        x = x + out
        return self._ffn_forward(index, layer, x)

    def _check_recompute_ffn(self, recompute_ffn) -> frozenset:
        """The layer indices ``recompute_ffn`` names (see the Args),
        each FFN checked to be recomputable."""
        num_layers = len(self.layers)
        if isinstance(recompute_ffn, bool):
            layers = range(num_layers) if recompute_ffn else ()
        elif isinstance(recompute_ffn, Sequence) and not isinstance(
                recompute_ffn, str) and all(
                    isinstance(i, int) and not isinstance(i, bool)
                    for i in recompute_ffn):
            bad = [
                i for i in recompute_ffn if not -num_layers <= i < num_layers
            ]
            if bad:
                raise ValueError(
                    f'recompute_ffn names layers {bad}, outside the '
                    f'{num_layers} layers (indices -{num_layers} to '
                    f'{num_layers - 1})')
            layers = sorted({i % num_layers for i in recompute_ffn})
            if len(layers) < len(recompute_ffn):
                raise ValueError(
                    f'recompute_ffn names a layer twice: {recompute_ffn!r}')
        else:
            raise TypeError('recompute_ffn must be a bool or a sequence of '
                            f'layer indices, got {recompute_ffn!r}')
        for i in layers:
            layer = self.layers[i]
            ffn = getattr(layer, 'ffn', None)
            seq = getattr(ffn, 'layers', None)
            if not (isinstance(seq, nn.Sequential) and len(seq) >= 3
                    and isinstance(seq[-2], nn.Linear)
                    and isinstance(seq[-1], nn.Dropout)):
                raise ValueError(
                    'recompute_ffn needs the FFN of mmcv (layers ending '
                    f'in Linear, Dropout); layer {i} has '
                    f'{type(ffn).__name__}')
        return frozenset(layers)

    def _recomputes_ffn(self, index: int) -> bool:
        # (a trace, as FLOP counting's, records the plain computation)
        return index in getattr(self, 'recompute_ffn_layers', ()) and \
            torch.is_grad_enabled() and not torch.jit.is_tracing()

    def _ffn_forward(self, index: int, layer: nn.Module,
                     x: torch.Tensor) -> torch.Tensor:
        """``layer.ffn(layer.ln2(x), identity=x)``; where ``recompute_ffn``
        names layer ``index``, the backward pass keeps only ``x`` and
        recomputes the norm, first linear and activation (the last linear
        is frozen: its backward needs no input), a block of tokens at a time
        (:func:`token_checkpoint`); with dropout inside the FFN, for the
        whole batch with the same dropout masks."""
        ffn = layer.ffn
        if not self._recomputes_ffn(index):
            return ffn(layer.ln2(x), identity=x)

        def hidden(t):
            return ffn.layers[:-2](layer.ln2(t))

        if any(m.p > 0 for m in ffn.layers[:-2].modules()
               if isinstance(m, nn.Dropout)) and ffn.training:
            hid = checkpoint(hidden, x, use_reentrant=False)
        else:
            hid = token_checkpoint(
                hidden, x,
                [*layer.ln2.parameters(), *ffn.layers[:-2].parameters()])
        out = ffn.gamma2(ffn.layers[-2:](hid))
        return x + ffn.dropout_layer(out) if ffn.add_identity else \
            ffn.dropout_layer(out)

    def _shared_prefix_qkv(self, layer, h, qkv, x, shared, drop_prompts,
                           with_prompts, taps, record):
        """Queries, the images' keys and values (B, heads, L, head_dims),
        the prompts' keys and values (heads, M, head_dims) and the residual
        stream of a shared-prefix layer: the prompts' norm and projection
        run once, and :func:`shared_prefix_attention` puts their keys and
        values before each image's. Queries of prompt rows are made only
        when their outputs are read. The queries, keys and values are views
        of the per-image ``qkv`` buffer: the backward pass keeps that buffer
        and the prompts' keys and values once."""
        attn, D = layer.attn, self.embed_dims
        h_prompts = layer.ln1(shared)
        qkv_prompts = attn.qkv(h_prompts)
        if 'attn_input' in taps:
            record['attn_input'] = with_prompts(h, h_prompts)
        queries = None
        if 'query' in taps or not drop_prompts:
            queries = with_prompts(qkv[..., :D], qkv_prompts[:, :D])
        if 'query' in taps:
            n = self.num_extra_tokens
            record['query'] = queries[:, :n + shared.shape[0]]
        B, heads, head_dims = x.shape[0], attn.num_heads, attn.head_dims
        if drop_prompts:  # (one split of qkv, as TransformerEncoderLayer's)
            q, k, v = qkv.reshape(B, qkv.shape[1], 3, heads,
                                  head_dims).permute(2, 0, 3, 1, 4)
        else:  # the prompt outputs are read: per image
            x = with_prompts(x, shared)
            q = queries.reshape(B, queries.shape[1], heads,
                                head_dims).transpose(1, 2)
            k, v = qkv[..., D:].reshape(B, qkv.shape[1], 2, heads,
                                        head_dims).permute(2, 0, 3, 1, 4)
        prefix = qkv_prompts[:, D:].reshape(-1, 2, heads,
                                            head_dims).permute(1, 2, 0, 3)
        return q, k, v, (prefix[0], prefix[1]), x

    def _drops_prompt_outputs(self, layer: int) -> bool:
        """Whether nothing reads the prompt outputs of ``layer``: no output
        of this layer shows them (``raw``, ``avg_prompt``, ``avg_all``) and
        no later layer takes them (deep mode replaces them; after the last
        layer nothing follows)."""
        if layer in self.out_indices and self.out_type in PROMPT_OUT_TYPES:
            return False
        return self.prompt_mode == 'deep' or layer == self.num_layers - 1

    def _reads_cls_only(self, layer: int) -> bool:
        """Whether only the CLS output of ``layer`` is read: it is the last
        layer, the output is the CLS token (``out_type='cls_token'``) and
        no tap of this layer reads other rows' attention output."""
        return (layer == self.num_layers - 1 and self.out_type == 'cls_token'
                and 'attn_output' not in self._tap_requests.get(layer, ()))
