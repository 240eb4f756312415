import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmprompt.registry import MODELS
from .base_prompt import BasePromptGenerator

# 'prototype' (SPT): zeros until SPTInitHook sets the tokens from
# data before training.
PROMPT_INITS = ('uniform', 'normal', 'zeros', 'prototype')


def vpt_uniform_bound(patch_size, embed_dims: int) -> float:
    """VPT's uniform init bound sqrt(6 / (3 * ph * pw + D)).

    It is xavier-uniform of the patch projection (fan-in 3 * ph * pw, fan-out
    D), so that prompts start on the scale of patch embeddings; 0.0625 for
    ViT-B/16.
    """
    ph, pw = (patch_size, patch_size) if isinstance(patch_size, int) \
        else patch_size
    return math.sqrt(6. / float(3 * ph * pw + embed_dims))


@MODELS.register_module()
class PromptTokens(BasePromptGenerator):
    """Plain prompt tokens: one free parameter P of shape (M, D).

    Args:
        num_tokens (int): Number of prompt tokens M.
        embed_dims (int): Token width D.
        init (str): ``'uniform'`` (U(-bound, bound), VPT), ``'normal'``
            (N(0, std^2)), ``'zeros'`` or ``'prototype'`` (SPT: set from
            the patch tokens of training images by
            :class:`mmprompt.methods.spt.SPTInitHook`; a buffer
            ``data_init_done`` records it, so checkpoints carry it and a
            resumed run does not redo it; the tokens cannot be used before).
            Defaults to ``'uniform'``.
        uniform_bound (float, optional): Bound of the uniform init. Required
            with ``init='uniform'``; a prompted backbone passes VPT's bound
            for its patch size.
        std (float): Standard deviation of the normal init. Defaults to 0.02.
        l2_normalize (bool): Use each token divided by its L2 norm
            (``F.normalize``, eps 1e-6), as the released DA-VPT code's
            ``vpt_norm: l2``. Defaults to False.
    """

    def __init__(self,
                 num_tokens: int,
                 embed_dims: int,
                 init: str = 'uniform',
                 uniform_bound: Optional[float] = None,
                 std: float = 0.02,
                 l2_normalize: bool = False):
        super().__init__(num_tokens, embed_dims)
        if not isinstance(l2_normalize, bool):
            raise TypeError(f'l2_normalize must be a bool, got '
                            f'{l2_normalize!r}')
        self.l2_normalize = l2_normalize
        if init not in PROMPT_INITS:
            raise ValueError(f'Unknown prompt_init {init!r}; choose from '
                             f'{PROMPT_INITS}')
        if init == 'uniform' and uniform_bound is None:
            raise ValueError("prompt_init='uniform' needs uniform_bound")
        self.init = init
        self.uniform_bound = uniform_bound
        self.std = std
        self.tokens = nn.Parameter(torch.empty(num_tokens, embed_dims))
        if init == 'prototype':
            self.register_buffer('data_init_done',
                                 torch.tensor(0, dtype=torch.uint8))
        self.reset_parameters()

    @classmethod
    def backbone_defaults(cls, init: str, uniform_bound: float,
                          std: float) -> dict:
        return dict(init=init, uniform_bound=uniform_bound, std=std)

    @property
    def data_init(self):
        return 'prototype' if self.init == 'prototype' else None

    def reset_parameters(self) -> None:
        with torch.no_grad():
            if self.init == 'uniform':
                self.tokens.uniform_(-self.uniform_bound, self.uniform_bound)
            elif self.init == 'normal':
                self.tokens.normal_(0., self.std)
            else:
                self.tokens.zero_()

    def _keep_rows(self, index: torch.Tensor) -> None:
        self.tokens = nn.Parameter(
            self.tokens.detach()[index.to(self.tokens.device)].clone(),
            requires_grad=self.tokens.requires_grad)

    @property
    def needs_data_init(self) -> bool:
        return self.init == 'prototype' and not bool(self.data_init_done)

    def init_from_data(self, tokens: torch.Tensor) -> None:
        """Set the tokens of a ``'prototype'`` init (M x D)."""
        if self.init != 'prototype':
            raise RuntimeError(f"init_from_data needs init='prototype', "
                               f'this generator has init={self.init!r}')
        if tuple(tokens.shape) != tuple(self.tokens.shape):
            raise ValueError(f'prototype tokens must be '
                             f'{tuple(self.tokens.shape)}, got '
                             f'{tuple(tokens.shape)}')
        with torch.no_grad():
            self.tokens.copy_(tokens)
            self.data_init_done.fill_(1)

    def forward(self) -> torch.Tensor:
        if self.needs_data_init:
            raise RuntimeError(
                "prompt_init='prototype' tokens are not initialised yet: add "
                "dict(type='mmprompt.SPTInitHook') to "
                'custom_hooks or load a checkpoint that has them')
        if self.l2_normalize:
            return F.normalize(self.tokens, dim=-1, eps=1e-6)
        return self.tokens
