"""What PromptViT takes from the checkpoints users bring: the
architectures mmpretrain lacks (DINOv2 B/L, CLIP), DINOv2's register tokens,
CLIP's output projection, and the checks that a converted checkpoint fits
the config."""

import torch
import torch.nn as nn
from mmpretrain.models import VisionTransformer

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


class PretrainedViTMixin:
    """Register tokens, the CLIP projection and checkpoint loading of
    :class:`~mmprompt.models.PromptViT` (see its ``num_registers`` and
    ``projection_dims``)."""

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
        from mmprompt.utils.checkpoint_converters import load_vit_checkpoint
        state_dict, fmt = load_vit_checkpoint(checkpoint)
        if 'projection' in state_dict and not self.projection_dims:
            # CLIP's joint-space projection: not part of a tuned backbone
            state_dict = {
                k: v
                for k, v in state_dict.items() if k != 'projection'
            }
        return state_dict, fmt

    def _check_pretrained_fits(self, state_dict, fmt, source) -> None:
        from mmprompt.utils.checkpoint_converters import \
            vit_arch_from_state_dict
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
