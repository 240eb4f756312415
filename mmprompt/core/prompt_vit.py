from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import build_norm_layer, resize_pos_embed

from mmprompt.registry import MODELS
from mmprompt.utils.checkpoint_converters import (load_vit_checkpoint,
                                                  vit_arch_from_state_dict)
from .prompt_tokens import vpt_uniform_bound
from .prompted_backbone import PromptedBackboneMixin
from .prompted_layer import PromptedLayerMixin

# Architectures beyond mmpretrain's: DINOv2 B/L and CLIP B/L (DINOv2-S and
# -g are mmpretrain's).
_BASE = dict(
    embed_dims=768, num_layers=12, num_heads=12, feedforward_channels=3072)
_BASE_NAMES = ('dinov2-b', 'dinov2-base', 'clip-b', 'clip-base')
_LARGE_NAMES = ('dinov2-l', 'dinov2-large', 'clip-l', 'clip-large')
_LARGE = dict(
    embed_dims=1024, num_layers=24, num_heads=16, feedforward_channels=4096)

ARCH_ZOO = {
    **VisionTransformer.arch_zoo,
    **dict.fromkeys(_BASE_NAMES, _BASE),
    **dict.fromkeys(_LARGE_NAMES, _LARGE),
}

# 'prompts': a layer's tokens as its generator produced them (M, D);
# 'layer_input': the tokens entering the layer, prompts in place (B, L, D);
# 'attn_input': after the layer's first norm (B, L, D); 'query': query
# projections of CLS and the prompts (B, 1 + M, D); 'attn_output': the
# attention branch output of the patch tokens before the residual sum
# (B, N, D).
TAP_NAMES = ('prompts', 'layer_input', 'attn_input', 'query', 'attn_output')


@MODELS.register_module()
class PromptViT(PromptedLayerMixin, PromptedBackboneMixin, VisionTransformer):
    """Vision Transformer with visual prompt tuning (VPT shallow and deep).

    `Visual Prompt Tuning <https://arxiv.org/abs/2203.12119>`_ on top of
    mmpretrain's :class:`VisionTransformer`, so its architectures, pretrained
    checkpoints, ``out_indices`` and position-embedding interpolation apply
    unchanged.

    The token sequence entering layer ``l`` is ``[CLS, p_l, x_1..x_N]``.
    Prompts carry no position embedding: they are inserted after it.

    - ``shallow``: prompts enter once, before layer 0, and travel through all
      layers.
    - ``deep``: before each layer ``l`` the prompt slot is replaced by ``p_l``;
      the prompt outputs of layer ``l - 1`` are discarded.

    Prompt outputs that nothing reads are not computed: in deep mode every
    layer's, in shallow mode the last layer's, unless an output of that
    layer shows the prompts (``out_type`` ``'raw'``, ``'avg_prompt'`` or
    ``'avg_all'``). There the prompts give keys and values only (no query,
    projection or FFN rows); the other tokens' outputs are unchanged, and
    memory and time drop. Likewise, with ``out_type='cls_token'`` the last
    layer computes the CLS row only (every token still gives keys and
    values): in ViT-B/16 that is most of a layer, about 6 % of the FLOPs
    of a forward, in training and in inference.

    Prompts as a shared prefix: where a layer's prompt tokens come straight
    from their generator (deep: every layer; shallow: layer 0) they are the
    same for every image, and so are their layer norm and query, key and
    value projections (all per token). They are computed once per forward,
    for M rows instead of B * M, and broadcast into attention. This is
    exact, and runs always in eval and in training without prompt dropout;
    with ``prompt_dropout > 0`` in training every image draws its own
    dropout mask (VPT's semantics), so the per-image path runs there.
    ``share_prompt_prefix=False`` forces the per-image path everywhere.

    The prompt tokens of each layer come from a prompt generator (see
    :mod:`mmprompt.core`), ``prompts[l]``; a plain generator holds
    the parameter ``prompts.{l}.tokens``.

    Args:
        num_prompts (int | Sequence[int]): Prompt tokens per layer. One int
            for every layer, or (deep only) one count per layer. 0 disables
            prompts in that layer. Defaults to 50.
        prompt_mode (str): ``'deep'`` or ``'shallow'``. Defaults to
            ``'deep'``.
        prompt_init (str): ``'uniform'`` (VPT: U(-v, v) with
            v = sqrt(6 / (3 * patch_h * patch_w + D))), ``'normal'`` or
            ``'zeros'``. Defaults to ``'uniform'``.
        prompt_std (float): Std of the ``'normal'`` init. Defaults to 0.02.
        prompt_dropout (float): Dropout on the prompt tokens only.
            Defaults to 0.
        prompt_cfg (dict | Sequence[dict]): Config of the prompt generator
            of each layer, or one config per prompted layer; ``num_tokens``
            and ``embed_dims`` are filled in, and for ``PromptTokens`` the
            init arguments above unless the config sets its own.
            Defaults to ``dict(type='mmprompt.PromptTokens')``.
        frozen (bool): Freeze every backbone parameter except the prompts and
            those matched by ``trainable_params``. Frozen submodules stay in
            eval mode while training (no dropout or drop-path in them).
            Defaults to True.
        frozen_eval (bool): With ``frozen``: keep the frozen submodules in
            eval mode while training (default). False lets them follow the
            model's mode, so ``drop_path_rate`` and dropout act inside the
            frozen layers during training, as in the released DA-VPT code
            (``drop_path: 0.1`` in most of its configs). Defaults to True.
        trainable_params (Sequence[str | dict]): Regular expressions; a
            backbone parameter whose name (relative to the backbone, e.g.
            ``layers.11.attn.qkv.bias``) fully matches one of them stays
            trainable. ``dict(name=regex, rows=(start, end))`` makes only
            those rows (dim 0) learn, e.g. the K and V thirds of the fused
            qkv bias for DA-VPT+: ``rows=(D, None)``. Each pattern must
            match at least one parameter. Defaults to ().
        share_prompt_prefix (bool): Compute each layer's freshly inserted
            prompts once per forward and broadcast them (see above).
            Defaults to True.
        recompute_ffn (bool | Sequence[int]): In training, keep only each
            prompted layer's FFN input for the backward pass and recompute
            its norm, first linear and activation there (activation
            checkpointing of the part before the frozen last linear), 1024
            tokens at a time (whole batches when the FFN has dropout in
            training, so that the masks repeat). Exact; it trades one more
            first-linear per layer in the backward pass for the
            activations that dominate training memory (4 of about 10
            embedding widths per token and layer). True: in every layer; a
            sequence of layer indices (negative ones count from the end):
            in those layers only. Every layer's saved activations are held
            at the end of the forward pass, so each layer left out costs
            the same memory wherever it is and saves the same time: the
            count sets the trade. Defaults to False.
        prompts_see_patches_only (bool): The prompts' queries attend to the
            patch tokens only, not to CLS or the prompts (the released
            DA-VPT code's ``mask: true``). It changes only prompt outputs
            that something reads (shallow prompts, prompt out_types).
            Defaults to False.
        out_type (str): The parent's ``'raw'`` (all tokens, prompts
            included), ``'cls_token'``, ``'featmap'`` and ``'avg_featmap'``
            (prompts stripped), plus ``'avg_prompt'`` (normed mean of the
            prompt tokens), ``'avg_all'`` (normed mean of prompts and
            patches, MAE's fine-tuning pooling) and ``'avg_all_tokens'``
            (the plain mean of the prompt and patch tokens, after the final
            norm with ``final_norm=True``: the released DA-VPT code's MAE
            pooling, ``norm(x)[:, 1:].mean(1)``). Defaults to
            ``'cls_token'``.
        num_registers (int): Register tokens (DINOv2 with registers), learnt
            tokens after CLS that carry no position embedding; prompts go
            after them. ``num_extra_tokens`` counts CLS and the registers.
            Defaults to 0.
        projection_dims (int, optional): Width of CLIP's projection into the
            joint image-text space, applied to the ``'cls_token'`` output
            (``projection`` of a CLIP checkpoint). None (default) leaves it
            out, as prompt tuning does; a checkpoint's projection is then
            not loaded.
        **kwargs: Arguments of :class:`mmpretrain.models.VisionTransformer`.

    Architectures beyond mmpretrain's (``arch``; the patch size is
    ``patch_size``): ``'dinov2-s'``/``'dinov2-b'``/``'dinov2-l'`` and
    ``'dinov2-g'`` (DINOv2 S/B/L/g, patch 14, ``layer_scale_init_value=1e-5``;
    g with ``layer_cfgs=dict(ffn_type='swiglu_fused')``) and
    ``'clip-b'``/``'clip-l'`` (CLIP ViT-B/32, B/16 and L/14 with
    ``pre_norm=True``, ``norm_cfg=dict(type='LN', eps=1e-5)`` and
    ``layer_cfgs=dict(act_cfg=dict(type='mmpretrain.QuickGELU'))``).
    """
    arch_zoo = ARCH_ZOO
    OUT_TYPES = VisionTransformer.OUT_TYPES | {
        'avg_prompt', 'avg_all', 'avg_all_tokens'
    }
    TAP_NAMES = TAP_NAMES

    def __init__(self,
                 *args,
                 num_prompts: Union[int, Sequence[int]] = 50,
                 prompt_mode: str = 'deep',
                 prompt_init: str = 'uniform',
                 prompt_std: float = 0.02,
                 prompt_dropout: float = 0.,
                 prompt_cfg: Union[dict, Sequence[dict]] = dict(
                     type='mmprompt.PromptTokens'),
                 frozen: bool = True,
                 frozen_eval: bool = True,
                 trainable_params: Sequence[str] = (),
                 share_prompt_prefix: bool = True,
                 recompute_ffn: Union[bool, Sequence[int]] = False,
                 prompts_see_patches_only: bool = False,
                 out_type: str = 'cls_token',
                 out_indices: Union[int, Sequence[int]] = -1,
                 num_registers: int = 0,
                 projection_dims: Optional[int] = None,
                 **kwargs):
        if out_type not in self.OUT_TYPES:
            raise ValueError(f'Unknown out_type {out_type!r}; choose from '
                             f'{sorted(self.OUT_TYPES)}')
        self._check_prompt_args(prompt_mode, prompt_init)
        self._check_featmap_size(out_type, kwargs)
        super().__init__(
            *args,
            out_type=out_type,
            out_indices=self._check_out_indices(out_indices, args, kwargs),
            **kwargs)
        self.prompt_mode = prompt_mode
        self._init_extra_tokens(num_registers, projection_dims, out_type)
        if not isinstance(share_prompt_prefix, bool):
            raise TypeError(f'share_prompt_prefix must be a bool, got '
                            f'{share_prompt_prefix!r}')
        self.share_prompt_prefix = share_prompt_prefix
        self.recompute_ffn = recompute_ffn
        self.recompute_ffn_layers = self._check_recompute_ffn(recompute_ffn)
        if not isinstance(prompts_see_patches_only, bool):
            raise TypeError(f'prompts_see_patches_only must be a bool, got '
                            f'{prompts_see_patches_only!r}')
        self.prompts_see_patches_only = prompts_see_patches_only
        counts = self._check_num_prompts(num_prompts)
        self.num_prompts = counts

        if out_type == 'avg_all_tokens' and not self.final_norm:
            raise ValueError("out_type='avg_all_tokens' averages the tokens "
                             'after the final norm: it needs '
                             'final_norm=True')
        if out_type in ('avg_prompt', 'avg_all'):
            # The parent builds this norm only for 'avg_featmap'.
            self.ln2 = build_norm_layer(
                kwargs.get('norm_cfg', dict(type='LN', eps=1e-6)),
                self.embed_dims)
        if out_type == 'avg_prompt':
            empty = [
                i for i in self.out_indices if self.num_prompts_at(i) == 0
            ]
            if empty:
                raise ValueError(
                    f"out_type='avg_prompt' needs prompts at every output "
                    f'layer, but layers {empty} have num_prompts=0')

        self._init_prompting(
            counts, [self.embed_dims] * len(counts), prompt_mode, prompt_init,
            prompt_std, prompt_dropout, prompt_cfg,
            vpt_uniform_bound(self.patch_embed.projection.kernel_size,
                              self.embed_dims), frozen, trainable_params,
            frozen_eval)

    # ------------------------------------------------------------------
    # construction helpers
    def _check_out_indices(self, out_indices, args, kwargs):
        arch = args[0] if args else kwargs.get('arch', 'base')
        if isinstance(arch, str):
            arch = self.arch_zoo.get(arch.lower(), {})
        depth = arch.get('num_layers') if isinstance(arch, dict) else None
        indices = [out_indices] if isinstance(out_indices, int) \
            else list(out_indices)
        if depth is not None:
            bad = [i for i in indices if not -depth <= i < depth]
            if bad:
                raise ValueError(
                    f'out_indices {out_indices!r} contains {bad}, outside '
                    f'the {depth} layers (valid: {-depth}..{depth - 1})')
        return indices

    @staticmethod
    def _check_featmap_size(out_type, kwargs) -> None:
        # Dense heads (SETR, the feature pyramid) read the patch grid as a
        # map: an image size that leaves a partial patch has no such grid.
        if out_type not in ('featmap', 'avg_featmap'):
            return
        img_size = kwargs.get('img_size', 224)
        patch_size = kwargs.get('patch_size', 16)
        sizes = (img_size, img_size) if isinstance(img_size, int) \
            else tuple(img_size)
        if any(s % patch_size for s in sizes):
            raise ValueError(
                f"out_type={out_type!r} needs img_size divisible by "
                f'patch_size={patch_size}, got img_size={img_size!r}')

    def _check_num_prompts(self, num_prompts) -> List[int]:
        if isinstance(num_prompts,
                      (bool, str)) or not isinstance(num_prompts,
                                                     (int, Sequence)):
            raise TypeError(f'num_prompts must be an int or a list of ints, '
                            f'got {num_prompts!r}')
        if isinstance(num_prompts, int):
            counts = [num_prompts] * (
                self.num_layers if self.prompt_mode == 'deep' else 1)
        else:
            counts = list(num_prompts)
            if self.prompt_mode == 'shallow':
                raise ValueError(
                    f"num_prompts={num_prompts!r}: prompt_mode='shallow' "
                    f'takes one int (prompts enter once, before layer 0)')
            if len(counts) != self.num_layers:
                raise ValueError(
                    f'num_prompts has {len(counts)} entries but the model '
                    f'has {self.num_layers} layers: {num_prompts!r}')
        for c in counts:
            if isinstance(c, bool) or not isinstance(c, int) or c < 0:
                raise ValueError(f'num_prompts must be ints >= 0, got '
                                 f'{num_prompts!r}')
        return counts

    def num_prompts_at(self, layer: int) -> int:
        """Number of prompt tokens that layer ``layer`` sees."""
        layer = layer % self.num_layers
        return self.num_prompts[layer if self.prompt_mode == 'deep' else 0]

    # ------------------------------------------------------------------
    @property
    def num_tap_layers(self) -> int:
        return self.num_layers

    def _check_kept_counts(self, counts: List[int]) -> None:
        if self.out_type == 'avg_prompt':
            empty = [
                i for i in self.out_indices
                if counts[i if self.prompt_mode == 'deep' else 0] == 0
            ]
            if empty:
                raise ValueError(
                    f"out_type='avg_prompt' needs prompts at the output "
                    f'layers {empty}; keeping {counts} leaves none there')

    # ------------------------------------------------------------------
    def _insert_prompts(
            self, x: torch.Tensor, layer: int,
            num_old: int) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Put the prompts of ``layer`` in the slot of ``num_old`` tokens.

        Returns ``(x, shared)``: with a shared prefix (see
        :meth:`shares_prompt_prefix`) ``x`` loses the old slot and the new
        prompts come back as ``shared`` (M, D); otherwise ``x`` holds every
        image's (dropped-out) copy of them and ``shared`` is None.
        """
        prompts = self.prompts[layer]()
        self._record_prompts_tap(layer, prompts)
        if prompts.shape[0] == 0 and num_old == 0:
            return x, None
        n = self.num_extra_tokens
        if self.shares_prompt_prefix():
            if num_old:
                x = torch.cat([x[:, :n], x[:, n + num_old:]], dim=1)
            shared = prompts.to(x.dtype) if prompts.shape[0] else None
            return x, shared
        prompts = self.prompts[layer].per_image(
            prompts.to(x.dtype), self.prompt_dropout, x.shape[0])
        return torch.cat([x[:, :n], prompts, x[:, n + num_old:]], dim=1), None

    def shares_prompt_prefix(self) -> bool:
        """Whether freshly inserted prompts run as a shared prefix now:
        unless disabled, or prompt dropout draws a mask per image (training
        with ``prompt_dropout > 0``)."""
        return self.share_prompt_prefix and not (self.prompt_dropout.training
                                                 and self.prompt_dropout.p > 0)

    def embed_tokens(self, x: torch.Tensor):
        """Images (B, 3, H, W) to the tokens entering layer 0,
        ``[CLS, registers, patches]`` with position embeddings (resized to
        the input; registers have none), and the patch resolution (h, w).
        No prompts yet."""
        B = x.shape[0]
        x, patch_resolution = self.patch_embed(x)
        if self.cls_token is not None:
            x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        x = x + resize_pos_embed(
            self.pos_embed,
            self.patch_resolution,
            patch_resolution,
            mode=self.interpolate_mode,
            num_extra_tokens=self.num_pos_extra_tokens)
        x = self.drop_after_pos(x)
        if self.num_registers:
            x = torch.cat(
                [x[:, :1],
                 self.register_tokens.expand(B, -1, -1), x[:, 1:]],
                dim=1)
        return self.pre_norm(x), tuple(patch_resolution)

    def forward(self, x):
        self.tap_outputs = {}
        x, patch_resolution = self.embed_tokens(x)

        outs = []
        num_prompts = 0
        for i, layer in enumerate(self.layers):
            shared = None
            if self._prompts_enabled and (i == 0
                                          or self.prompt_mode == 'deep'):
                x, shared = self._insert_prompts(x, i, num_prompts)
                num_prompts = self.num_prompts[i]
            drop = num_prompts > 0 and self._drops_prompt_outputs(i)
            x = self._layer_forward(i, layer, x, num_prompts, drop, shared,
                                    self._reads_cls_only(i))
            if drop:
                num_prompts = 0
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(
                    self._format_output(x, patch_resolution, num_prompts))
        return tuple(outs)

    def _format_output(self, x, hw, num_prompts: int = 0):
        if self.out_type == 'cls_token' and self.projection_dims:
            return x[:, 0] @ self.projection.to(x.dtype)
        if self.out_type in ('raw', 'cls_token'):
            return super()._format_output(x, hw)
        n = self.num_extra_tokens
        if self.out_type == 'avg_prompt':
            if num_prompts == 0:
                raise RuntimeError("out_type='avg_prompt' has no prompts to "
                                   'pool (inside without_prompts()?)')
            return self.ln2(x[:, n:n + num_prompts].mean(dim=1))
        if self.out_type == 'avg_all':
            return self.ln2(x[:, n:].mean(dim=1))
        if self.out_type == 'avg_all_tokens':
            return x[:, n:].mean(dim=1)
        # featmap / avg_featmap: the parent strips the extra tokens only.
        return super()._format_output(
            torch.cat([x[:, :n], x[:, n + num_prompts:]], dim=1), hw)

    # ------------------------------------------------------------------
    # checkpoints users bring: DINOv2 registers, CLIP projection, loading
    def _init_extra_tokens(self, num_registers, projection_dims, out_type):
        """DINOv2's register tokens and CLIP's output projection."""
        if isinstance(num_registers, bool) or not isinstance(
                num_registers, int) or num_registers < 0:
            raise ValueError(f'num_registers must be an int >= 0, got '
                             f'{num_registers!r}')
        if num_registers and not self.with_cls_token:
            raise ValueError(f'num_registers={num_registers} needs the class '
                             'token (registers follow it): with_cls_token '
                             'is False')
        self.num_registers = num_registers
        if num_registers:
            self.register_tokens = nn.Parameter(
                torch.zeros(1, num_registers, self.embed_dims))
            self.num_extra_tokens = 1 + num_registers
        self.projection_dims = projection_dims
        if projection_dims is None:
            return
        if isinstance(projection_dims, bool) or not isinstance(
                projection_dims, int) or projection_dims <= 0:
            raise ValueError(f'projection_dims must be a positive int or '
                             f'None, got {projection_dims!r}')
        if out_type != 'cls_token':
            raise ValueError(f'projection_dims projects the class token: it '
                             f"needs out_type='cls_token', got {out_type!r}")
        self.projection = nn.Parameter(
            torch.randn(self.embed_dims, projection_dims) *
            self.embed_dims**-0.5)

    @property
    def num_pos_extra_tokens(self) -> int:
        """Extra tokens that have a row in ``pos_embed``: CLS only;
        registers carry no position."""
        return self.num_extra_tokens - self.num_registers

    def _prepare_pos_embed(self, state_dict, prefix, *args, **kwargs):
        # mmpretrain's resizing hook reads num_extra_tokens as the class
        # rows of pos_embed; registers have none.
        num_extra, self.num_extra_tokens = (self.num_extra_tokens,
                                            self.num_pos_extra_tokens)
        try:
            super()._prepare_pos_embed(state_dict, prefix, *args, **kwargs)
        finally:
            self.num_extra_tokens = num_extra

    def _load_pretrained(self, checkpoint):
        state_dict, fmt = load_vit_checkpoint(checkpoint)
        if 'projection' in state_dict and not self.projection_dims:
            # CLIP's joint-space projection: not part of a tuned backbone
            state_dict = {
                k: v
                for k, v in state_dict.items() if k != 'projection'
            }
        return state_dict, fmt

    def _check_pretrained_fits(self, state_dict, fmt, source) -> None:
        if 'patch_embed.projection.weight' not in state_dict:
            return
        found = vit_arch_from_state_dict(state_dict)
        kernel = tuple(self.patch_embed.projection.kernel_size)
        patch = kernel[0] if kernel[0] == kernel[1] else kernel
        own = dict(
            embed_dims=self.embed_dims,
            patch_size=patch,
            num_layers=self.num_layers,
            num_registers=self.num_registers,
            projection_dims=self.projection_dims,
            pre_norm=not isinstance(self.pre_norm, nn.Identity))
        differ = [
            f'{k}: checkpoint {found[k]!r}, config {v!r}'
            for k, v in own.items() if found[k] != v
        ]
        if differ:
            raise ValueError(
                f'Pretrained checkpoint {source!r} (format {fmt}) does not '
                f'fit {type(self).__name__}: ' + '; '.join(differ))
