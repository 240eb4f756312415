import re
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmpretrain.models import SwinTransformer
from mmpretrain.models.utils import resize_pos_embed

from mmprompt.registry import MODELS
from mmprompt.utils.checkpoint_converters import load_swin_checkpoint
from .prompt_tokens import vpt_uniform_bound
from .prompted_backbone import PromptedBackboneMixin


@MODELS.register_module()
class PromptSwin(PromptedBackboneMixin, SwinTransformer):
    """Swin Transformer with visual prompt tuning (VPT's prompted Swin).

    On top of mmpretrain's :class:`SwinTransformer` (its architectures,
    checkpoints and ``out_indices`` apply unchanged), with VPT's semantics
    (``src/models/vit_prompt/swin_transformer.py`` of KMnP/vpt):

    - The M prompts of a block are prepended to the tokens of every
      attention window of an image (the same prompts for all windows of that
      image). They carry no relative position bias and the attention mask
      never masks them (both padded with zeros). After attention, a prompt's
      outputs are averaged over the image's windows.
    - Prompts take no part in the cyclic shift or the window partition and
      reverse; they go through the block's norms, residuals and FFN like
      the patch tokens.
    - At patch merging a prompt becomes one token of the next stage by the
      merge's own norm and reduction applied to a 2x2 patch of copies of it
      (VPT: the prompt repeated to 4C).
    - ``shallow``: prompts enter before the first block and travel through
      all blocks and merges. ``deep``: every block of every stage gets its
      own prompts, replacing the previous ones.

    VPT's code expands the prompts window-major while ``window_partition``
    is batch-major, so with a batch of more than one image its prompts mix
    images; here every image keeps its own.

    Prompts as a shared prefix (deep mode): a block's prompts are the same
    for every window of every image and their outputs are discarded (the
    next block replaces them), so their norm and key/value projections run
    once per forward (M rows instead of B * windows * M) and they get no
    query, projection or FFN rows; attention broadcasts their keys and
    values into every window. Exact; it runs always in eval and in training
    without prompt dropout (with ``prompt_dropout > 0`` in training every
    image draws its own mask, and the per-image path runs), unless
    ``share_prompt_prefix=False``. Shallow prompts travel and are per image
    after the first block: they take the per-image path.

    The prompt generators are ``prompts[j]`` over the blocks of all stages
    in order (deep) or ``prompts[0]`` (shallow), so methods that act on
    generators (Prompt Condensation) see one prompted layer per block.
    Output feature maps hold the patch tokens only.

    ``init_cfg=dict(type='Pretrained', checkpoint=...)`` reads Microsoft's
    official Swin files (VPT's ``swin_base_patch4_window7_224_22k.pth``),
    timm's and mmpretrain's through
    :func:`mmprompt.utils.checkpoint_converters.load_swin_checkpoint`.

    Args:
        num_prompts (int | Sequence[int]): Prompt tokens: one int, one
            count per stage (deep), or one count per block (deep; what
            condensation leaves). Defaults to 5.
        prompt_mode (str): ``'deep'`` or ``'shallow'``. Defaults to
            ``'deep'``.
        prompt_init (str): ``'uniform'`` (VPT: U(-v, v) with
            v = sqrt(6 / (3 * patch_h * patch_w + C)), C the first stage's
            width), ``'normal'`` or ``'zeros'``. Defaults to ``'uniform'``.
        prompt_std (float): Std of the ``'normal'`` init. Defaults to 0.02.
        prompt_dropout (float): Dropout on the prompt tokens only.
        prompt_cfg (dict | Sequence[dict]): Config of the prompt
            generators, or one per prompted block; as in :class:`PromptViT`.
            Defaults to ``dict(type='mmprompt.PromptTokens')``.
        frozen (bool): Freeze every backbone parameter but the prompts and
            ``trainable_params``; frozen parts stay in eval mode while
            training. Defaults to True.
        frozen_eval (bool): As in :class:`PromptViT`. Defaults to True.
        trainable_params (Sequence[str | dict]): As in :class:`PromptViT`.
        share_prompt_prefix (bool): Deep prompts as a shared prefix (see
            above). Defaults to True.
        **kwargs: Arguments of :class:`mmpretrain.models.SwinTransformer`.
    """

    def __init__(self,
                 *args,
                 num_prompts: Union[int, Sequence[int]] = 5,
                 prompt_mode: str = 'deep',
                 prompt_init: str = 'uniform',
                 prompt_std: float = 0.02,
                 prompt_dropout: float = 0.,
                 prompt_cfg: Union[dict, Sequence[dict]] = dict(
                     type='mmprompt.PromptTokens'),
                 frozen: bool = True,
                 frozen_eval: bool = True,
                 trainable_params: Sequence = (),
                 share_prompt_prefix: bool = True,
                 **kwargs):
        self._check_prompt_args(prompt_mode, prompt_init)
        if not isinstance(share_prompt_prefix, bool):
            raise TypeError(f'share_prompt_prefix must be a bool, got '
                            f'{share_prompt_prefix!r}')
        super().__init__(*args, **kwargs)
        self.prompt_mode = prompt_mode
        self.share_prompt_prefix = share_prompt_prefix
        self.stage_of_block = [
            i for i, stage in enumerate(self.stages) for _ in stage.blocks
        ]
        stage_dims = [stage.embed_dims for stage in self.stages]
        counts = self._check_num_prompts(num_prompts)
        dims = [stage_dims[self.stage_of_block[j]] for j in
                range(len(counts))] if prompt_mode == 'deep' \
            else [stage_dims[0]]
        self._init_prompting(
            counts, dims, prompt_mode, prompt_init, prompt_std, prompt_dropout,
            prompt_cfg,
            vpt_uniform_bound(self.patch_embed.projection.kernel_size,
                              stage_dims[0]), frozen, trainable_params,
            frozen_eval)

    def _check_num_prompts(self, num_prompts) -> List[int]:
        num_blocks = len(self.stage_of_block)
        num_stages = len(self.stages)
        if isinstance(num_prompts,
                      (bool, str)) or not isinstance(num_prompts,
                                                     (int, Sequence)):
            raise TypeError(f'num_prompts must be an int or a list of ints, '
                            f'got {num_prompts!r}')
        if isinstance(num_prompts, int):
            counts = [num_prompts] * (
                num_blocks if self.prompt_mode == 'deep' else 1)
        elif self.prompt_mode == 'shallow':
            raise ValueError(
                f"num_prompts={num_prompts!r}: prompt_mode='shallow' takes "
                'one int (prompts enter once, before the first block)')
        elif len(num_prompts) == num_stages:
            counts = [num_prompts[s] for s in self.stage_of_block]
        elif len(num_prompts) == num_blocks:
            counts = list(num_prompts)
        else:
            raise ValueError(
                f'num_prompts has {len(num_prompts)} entries: give one per '
                f'stage ({num_stages}) or one per block ({num_blocks}), got '
                f'{num_prompts!r}')
        for c in counts:
            if isinstance(c, bool) or not isinstance(c, int) or c < 0:
                raise ValueError(f'num_prompts must be ints >= 0, got '
                                 f'{num_prompts!r}')
        return counts

    @property
    def num_tap_layers(self) -> int:
        return len(self.prompts)

    # ------------------------------------------------------------------
    def _block_prompts(self, block: int, batch: int) -> torch.Tensor:
        """The prompts of ``block``: (M, C) shared by the batch where deep
        prompts run as a shared prefix, else (B, M, C) per image."""
        prompts = self.prompts[block]()
        self._record_prompts_tap(block, prompts)
        if self.prompt_mode == 'deep' and self.shares_prompt_prefix():
            return prompts
        return self.prompts[block].per_image(prompts, self.prompt_dropout,
                                             batch)

    def shares_prompt_prefix(self) -> bool:
        """As :meth:`PromptViT.shares_prompt_prefix` (deep mode only)."""
        return self.share_prompt_prefix and not (self.prompt_dropout.training
                                                 and self.prompt_dropout.p > 0)

    def forward(self, x):
        self.tap_outputs = {}
        x, hw_shape = self.patch_embed(x)
        if self.use_abs_pos_embed:
            x = x + resize_pos_embed(
                self.absolute_pos_embed, self.patch_resolution, hw_shape,
                self.interpolate_mode, self.num_extra_tokens)
        x = self.drop_after_pos(x)

        B = x.shape[0]
        prompts: Optional[torch.Tensor] = None  # (B, M, C) travelling
        outs, block_index = [], 0
        for i, stage in enumerate(self.stages):
            for block in stage.blocks:
                if self._prompts_enabled and (self.prompt_mode == 'deep'
                                              or block_index == 0):
                    prompts = self._block_prompts(block_index, B)
                x, prompts = self._block_forward(block, x, prompts, hw_shape)
                block_index += 1
            if stage.downsample is not None and self.out_after_downsample:
                x, prompts, hw_shape = self._merge(stage.downsample, x,
                                                   prompts, hw_shape)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x)
                outs.append(
                    out.view(-1, *hw_shape,
                             self.num_features[i]).permute(0, 3, 1,
                                                           2).contiguous())
            if stage.downsample is not None and \
                    not self.out_after_downsample:
                x, prompts, hw_shape = self._merge(stage.downsample, x,
                                                   prompts, hw_shape)
        return tuple(outs)

    def _merge(self, downsample, x, prompts, hw_shape):
        x, out_shape = downsample(x, hw_shape)
        if prompts is None or prompts.shape[1] == 0:
            return x, prompts, out_shape
        if self.prompt_mode == 'deep':
            # the next block replaces them
            return x, None, out_shape
        B, M, C = prompts.shape
        patch = prompts.reshape(B * M, 1, C).expand(B * M, 4, C)
        merged, _ = downsample(patch.contiguous(), (2, 2))
        return x, merged.view(B, M, -1), out_shape

    # ------------------------------------------------------------------
    def _block_forward(self, block, x, prompts, hw_shape):
        """A ``SwinBlock`` on ``x`` (B, L, C) with ``prompts`` (B, M, C), or
        (M, C) shared by the batch, whose outputs nothing reads (deep)."""
        if prompts is None or prompts.shape[-2] == 0:
            return block(x, hw_shape), prompts
        if prompts.dim() == 2:  # the shared prefix: keys and values only
            out_x = self._shift_window_attention(
                block.attn,
                block.norm1(prompts.to(x.dtype)),
                block.norm1(x),
                hw_shape,
                shared=True)
            y = x + out_x
            return block.ffn(block.norm2(y), identity=y), None
        M = prompts.shape[1]
        identity = torch.cat([prompts, x], dim=1)
        h = block.norm1(identity)
        out_p, out_x = self._shift_window_attention(block.attn, h[:, :M],
                                                    h[:, M:], hw_shape)
        y = identity + torch.cat([out_p, out_x], dim=1)
        y = block.ffn(block.norm2(y), identity=y)
        return y[:, M:], y[:, :M]

    @staticmethod
    def _shift_window_attention(attn, prompts, x, hw_shape, shared=False):
        """mmpretrain's ``ShiftWindowMSA.forward`` with prompts prepended
        to every window of their image and averaged over the windows.

        ``shared``: ``prompts`` (M, C) are the same for every window of
        every image and only give keys and values; only the patch tokens'
        output comes back."""
        B, L, C = x.shape
        H, W = hw_shape
        x = x.view(B, H, W, C)
        window_size, shift_size = attn.window_size, attn.shift_size
        if min(H, W) == window_size:
            shift_size = shift_size if attn.pad_small_map else 0
        elif min(H, W) < window_size and not attn.pad_small_map:
            raise ValueError(
                f'The input shape ({H}, {W}) is smaller than the window '
                f'size ({window_size}): set pad_small_map=True or a '
                'smaller window_size')
        pad_r = (window_size - W % window_size) % window_size
        pad_b = (window_size - H % window_size) % window_size
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        H_pad, W_pad = x.shape[1], x.shape[2]
        if shift_size > 0:
            x = torch.roll(x, shifts=(-shift_size, -shift_size), dims=(1, 2))
        mask = attn.get_attn_mask((H_pad, W_pad),
                                  window_size=window_size,
                                  shift_size=shift_size,
                                  device=x.device)
        # (B * nW, ws*ws, C), batch-major
        windows = attn.window_partition(x, window_size).view(
            -1, window_size**2, C)
        num_windows = windows.shape[0] // B
        if shared:
            out_x = PromptSwin._window_attention_shared(
                attn.w_msa, prompts, windows, mask)
            return attn.drop(
                PromptSwin._reverse_windows(attn, out_x, hw_shape,
                                            (H_pad, W_pad), shift_size))
        M = prompts.shape[1]
        tokens = torch.cat([
            prompts.unsqueeze(1).expand(B, num_windows, M, C).reshape(
                B * num_windows, M, C), windows
        ],
                           dim=1)
        out = PromptSwin._window_attention(attn.w_msa, tokens, mask, M)
        out_p = out[:, :M].reshape(B, num_windows, M, C).mean(1)
        out_x = PromptSwin._reverse_windows(attn, out[:, M:], hw_shape,
                                            (H_pad, W_pad), shift_size)
        return attn.drop(out_p), attn.drop(out_x)

    @staticmethod
    def _reverse_windows(attn, windows, hw_shape, padded_shape, shift_size):
        """Window outputs (B * nW, ws*ws, C) back to tokens (B, H*W, C)."""
        (H, W), (H_pad, W_pad) = hw_shape, padded_shape
        window_size, C = attn.window_size, windows.shape[-1]
        out_x = attn.window_reverse(
            windows.reshape(-1, window_size, window_size, C), H_pad, W_pad,
            window_size)
        if attn.shift_size > 0:
            out_x = torch.roll(
                out_x, shifts=(shift_size, shift_size), dims=(1, 2))
        if H != H_pad or W != W_pad:
            out_x = out_x[:, :H, :W, :].contiguous()
        return out_x.reshape(out_x.shape[0], H * W, C)

    @staticmethod
    def _position_bias(w_msa) -> torch.Tensor:
        """The relative position bias of a window, (heads, N, N)."""
        wh, ww = w_msa.window_size
        return w_msa.relative_position_bias_table[
            w_msa.relative_position_index.view(-1)].view(wh * ww, wh * ww,
                                                         -1).permute(2, 0, 1)

    @staticmethod
    def _window_attention_shared(w_msa, prompts, windows, mask):
        """:meth:`_window_attention` for prompts (M, C) shared by every
        window that give keys and values only: their projections run once
        and broadcast; the logits of the prompt columns carry no bias and
        no mask (zeros), as in the per-image path. Returns the windows'
        output (B * nW, ws*ws, C)."""
        B_, N, C = windows.shape
        heads = w_msa.num_heads
        qkv = w_msa.qkv(windows).reshape(B_, N, 3, heads,
                                         C // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * w_msa.scale, qkv[1], qkv[2]
        M = prompts.shape[0]
        kv_p = w_msa.qkv(prompts)[:, C:].reshape(M, 2, heads, C // heads)
        k_p, v_p = kv_p.permute(1, 2, 0, 3)  # each (heads, M, d)
        logits = q @ k.transpose(-2, -1)  # (B_, heads, N, N)
        logits = logits + PromptSwin._position_bias(w_msa).unsqueeze(0)
        if mask is not None:
            nW = mask.shape[0]
            logits = (logits.view(B_ // nW, nW, heads, N, N) +
                      mask.unsqueeze(1).unsqueeze(0)).view(-1, heads, N, N)
        # the prompt columns: broadcast keys, no bias, never masked
        logits = torch.cat([q @ k_p.transpose(-2, -1), logits], dim=-1)
        weights = w_msa.attn_drop(w_msa.softmax(logits))
        out = weights[..., :M] @ v_p + weights[..., M:] @ v
        return w_msa.proj_drop(
            w_msa.proj(out.transpose(1, 2).reshape(B_, N, C)))

    @staticmethod
    def _window_attention(w_msa, x, mask, num_prompts):
        """mmpretrain's ``WindowMSA.forward`` on (B * nW, M + ws*ws, C):
        the relative position bias and the mask padded with zeros for the
        prompts."""
        B_, N, C = x.shape
        qkv = w_msa.qkv(x).reshape(B_, N, 3, w_msa.num_heads,
                                   C // w_msa.num_heads).permute(
                                       2, 0, 3, 1, 4)
        q, k, v = qkv[0] * w_msa.scale, qkv[1], qkv[2]
        logits = q @ k.transpose(-2, -1)
        pad = (num_prompts, 0, num_prompts, 0)
        logits = logits + F.pad(PromptSwin._position_bias(w_msa),
                                pad).unsqueeze(0)
        if mask is not None:
            nW = mask.shape[0]
            logits = logits.view(B_ // nW, nW, w_msa.num_heads, N, N) + \
                F.pad(mask, pad).unsqueeze(1).unsqueeze(0)
            logits = logits.view(-1, w_msa.num_heads, N, N)
        weights = w_msa.attn_drop(w_msa.softmax(logits))
        out = (weights @ v).transpose(1, 2).reshape(B_, N, C)
        return w_msa.proj_drop(w_msa.proj(out))

    @staticmethod
    def _load_pretrained(checkpoint):
        return load_swin_checkpoint(checkpoint)

    def _pretrained_may_lack(self, name: str) -> bool:
        # classification checkpoints hold the last stage's output norm only;
        # those of other out_indices start fresh
        last = len(self.stages) - 1
        return super()._pretrained_may_lack(name) or bool(
            re.match(rf'norm(?!{last}\.)\d+\.', name))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args,
                              **kwargs):
        # mmpretrain converts old Swin checkpoints (final 'norm.' ->
        # 'norm{last}.', stored attention masks dropped) only when the
        # class is exactly SwinTransformer
        if local_metadata.get('version', None) is None or \
                local_metadata['version'] < 3:
            last = len(self.stages) - 1
            for key in list(state_dict):
                if not key.startswith(prefix):
                    continue
                rest = key[len(prefix):]
                if rest.startswith('norm.'):
                    state_dict[f'{prefix}norm{last}.{rest[5:]}'] = \
                        state_dict.pop(key)
                elif 'attn_mask' in rest:
                    del state_dict[key]
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      *args, **kwargs)
