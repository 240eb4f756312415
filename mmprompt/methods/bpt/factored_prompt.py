from abc import abstractmethod

import torch
import torch.nn as nn

from mmprompt.core import BasePromptGenerator


def check_whitening_shape(whitening: torch.Tensor, embed_dims: int) -> None:
    if tuple(whitening.shape) != (embed_dims, embed_dims):
        raise ValueError(
            f'whitening matrix must be ({embed_dims}, {embed_dims}) for '
            f'embed_dims={embed_dims}, got {tuple(whitening.shape)}')


class FactoredPrompt(BasePromptGenerator):
    """Prompts ``P = A @ F``: a per-token factor ``A`` (M x c, the
    parameter ``a``) times a factor ``F`` (c x D) that all tokens share.

    Prompt Condensation keeps rows of ``A``; ``F`` stays as it is. A
    subclass whose ``F`` comes from the layer's whitening matrix
    (``takes_whitening``) gets it from
    :class:`mmprompt.methods.bpt.BPTWhiteningHook` through
    :meth:`set_whitening`; the buffer ``whitening_ready`` records that, so
    checkpoints carry it and a resumed run does not recompute it, and the
    prompts cannot be used before.

    Args:
        num_tokens (int): Number of prompt tokens M.
        embed_dims (int): Token width D.
        width (int): Inner width c.
        std (float): Std of the normal init of ``A``.
    """

    def __init__(self, num_tokens: int, embed_dims: int, width: int,
                 std: float):
        super().__init__(num_tokens, embed_dims)
        self.std = std
        self.a = nn.Parameter(torch.empty(num_tokens, width))
        self.register_buffer(
            'whitening_ready',
            torch.tensor(int(not self.takes_whitening), dtype=torch.uint8))

    @property
    @abstractmethod
    def shared_factor(self) -> torch.Tensor:
        """``F`` (c x D)."""

    @property
    def needs_whitening(self) -> bool:
        return not bool(self.whitening_ready)

    def set_whitening(self, whitening: torch.Tensor) -> None:
        """Build ``F`` from the layer's whitening matrix (D x D)."""
        if not self.takes_whitening:
            super().set_whitening(whitening)  # refuses
        check_whitening_shape(whitening, self.embed_dims)
        with torch.no_grad():
            self._set_factor_from_whitening(whitening)
            self.whitening_ready.fill_(1)

    def _set_factor_from_whitening(self, whitening: torch.Tensor) -> None:
        raise NotImplementedError

    def _keep_rows(self, index: torch.Tensor) -> None:
        self.a = nn.Parameter(
            self.a.detach()[index.to(self.a.device)].clone(),
            requires_grad=self.a.requires_grad)

    def forward(self) -> torch.Tensor:
        if self.needs_whitening:
            raise RuntimeError(
                f'{type(self).__name__} has no whitening matrix yet: add '
                "dict(type='mmprompt.BPTWhiteningHook') to custom_hooks "
                'or load a checkpoint that has it')
        return self.a @ self.shared_factor
