from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.models.utils import LayerNorm2d

from mmprompt.registry import MODELS

SCALE_FACTORS = (4.0, 2.0, 1.0, 0.5)


def _norm(channels: int) -> nn.Module:
    # mmpretrain's LN2d: LayerNorm over channels of an NCHW map (ViTDet's).
    return LayerNorm2d(channels, eps=1e-6)


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """The simple feature pyramid of ViTDet for a plain (prompted) ViT.

    `Exploring Plain Vision Transformer Backbones for Object Detection
    <https://arxiv.org/abs/2203.16527>`_: from the last single-scale feature
    map (stride s, usually 16) it builds maps at strides s/4, s/2, s and 2s
    (two deconvolutions, one deconvolution, identity, a 2x2 max-pool), each
    followed by a 1x1 lateral and a 3x3 output convolution with LN2d, plus
    one extra level by stride-2 subsampling of the coarsest output
    (ViTDet's ``LastLevelMaxPool``): five levels for mmdet's RPN and RoI
    heads (strides 4, 8, 16, 32, 64 for a stride-16 ViT). mmdet 3.3 ships no
    ViTDet code, hence this neck.

    Args:
        in_channels (int): Channels of the backbone's feature map (the ViT's
            embed_dims).
        out_channels (int): Channels of every output level. Defaults to 256.
        scale_factors (Sequence[float]): Resolution of each level relative
            to the input map, from {4, 2, 1, 0.5}. Defaults to
            (4.0, 2.0, 1.0, 0.5).
        num_outs (int): Output levels: ``len(scale_factors)`` plus extra
            subsampled levels. Defaults to 5.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 256,
                 scale_factors: Sequence[float] = SCALE_FACTORS,
                 num_outs: int = 5,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels), ('out_channels',
                                                           out_channels)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < 1:
                raise ValueError(f'{name} must be an int >= 1, got '
                                 f'{value!r}')
        unknown = [s for s in scale_factors if s not in SCALE_FACTORS]
        if unknown or not scale_factors:
            raise ValueError(f'scale_factors must be taken from '
                             f'{SCALE_FACTORS}, got {tuple(scale_factors)}')
        if num_outs < len(scale_factors):
            raise ValueError(f'num_outs={num_outs} is fewer than the '
                             f'{len(scale_factors)} scale_factors')
        if 4.0 in scale_factors and in_channels % 4:
            raise ValueError(f'scale factor 4 halves the channels twice: '
                             f'in_channels={in_channels} must divide by 4')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factors = tuple(scale_factors)
        self.num_outs = num_outs
        self.stages = nn.ModuleList()
        for scale in self.scale_factors:
            resample, channels = self._resample(scale, in_channels)
            self.stages.append(
                nn.Sequential(
                    resample, nn.Conv2d(channels, out_channels, 1, bias=False),
                    _norm(out_channels),
                    nn.Conv2d(
                        out_channels, out_channels, 3, padding=1, bias=False),
                    _norm(out_channels)))

    @staticmethod
    def _resample(scale: float, channels: int) -> Tuple[nn.Module, int]:
        if scale == 4.0:
            return nn.Sequential(
                nn.ConvTranspose2d(channels, channels // 2, 2, stride=2),
                _norm(channels // 2), nn.GELU(),
                nn.ConvTranspose2d(channels // 2, channels // 4, 2,
                                   stride=2)), channels // 4
        if scale == 2.0:
            return nn.ConvTranspose2d(
                channels, channels // 2, 2, stride=2), channels // 2
        if scale == 1.0:
            return nn.Identity(), channels
        return nn.MaxPool2d(2, stride=2), channels

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor]:
        """``inputs``: the backbone's outputs; the last is used (B, C, H,
        W)."""
        x = inputs[-1]
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'SimpleFeaturePyramid(in_channels={self.in_channels}) got '
                f'a feature map of shape {tuple(x.shape)}: the backbone '
                "must give (B, in_channels, H, W) maps (out_type='featmap', "
                'in_channels = its embed_dims)')
        outs = [stage(x) for stage in self.stages]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)
