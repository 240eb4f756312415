import math
from typing import Optional

import torch
import torch.nn as nn

from mmprompt.core import PromptTokens
from mmprompt.registry import MODELS

# 'all': along the width, then along the tokens (a 2-D FFT); 'sequence':
# along the tokens only; 'hidden': along the width only (the released
# FOURIER_DIMENSION values)
FOURIER_DIMS = {'all': (-2, -1), 'sequence': (-2, ), 'hidden': (-1, )}
# where the transformed tokens go among the layer's prompts
FOURIER_LOCATIONS = ('prepend', 'append')


def fourier_transform(tokens: torch.Tensor,
                      fourier_dims: str = 'all') -> torch.Tensor:
    """The real part of the discrete Fourier transform of prompt tokens
    (..., m, D) along ``FOURIER_DIMS[fourier_dims]``, in the tokens' dtype
    (the transform itself runs in float32, as autocast runs FFTs)."""
    dims = FOURIER_DIMS[fourier_dims]
    out = torch.fft.fftn(tokens.float(), dim=dims).real
    return out.to(tokens.dtype)


@MODELS.register_module()
class FourierPrompt(PromptTokens):
    """Visual Fourier prompts (VFPT): a share of a layer's learnt prompt
    tokens enters the layer as the real part of its Fourier transform.

    `Visual Fourier Prompt Tuning <https://arxiv.org/abs/2411.01327>`_
    (NeurIPS 2024). With ``m = floor(M * fourier_ratio)`` and learnt tokens
    ``T`` (M, D), the layer's prompts are ``[Re(FFT(T[:m])), T[m:]]``
    (``'prepend'``) or ``[T[m:], Re(FFT(T[:m]))]`` (``'append'``); the FFT
    runs over the m tokens and the width (``'all'``), or one of the two.
    The transformed tokens are the first m rows of ``T`` in both locations,
    as in the released code (runtsang/VFPT, ``vit_VFPT.py``).

    Prompt dropout acts before the transform, each image with its own mask,
    as in the released code (:meth:`per_image`); without dropout the
    prompts are the same for every image and run as a shared prefix.

    Args:
        num_tokens (int): Number of prompt tokens M.
        embed_dims (int): Token width D.
        fourier_ratio (float): Share of the tokens that are transformed,
            0 <= ratio <= 1 (the released FOURIER_PERCENTAGE). Defaults to
            0.5.
        fourier_dims (str): ``'all'``, ``'sequence'`` or ``'hidden'``.
            Defaults to ``'all'``.
        location (str): ``'prepend'`` or ``'append'``. The released
            ``'random'`` draws positions with Python's ``random`` in every
            forward; it is not offered. Defaults to ``'prepend'``.
        **kwargs: :class:`~mmprompt.core.PromptTokens`' arguments (init,
            uniform_bound, std, l2_normalize).
    """

    def __init__(self,
                 num_tokens: int,
                 embed_dims: int,
                 fourier_ratio: float = 0.5,
                 fourier_dims: str = 'all',
                 location: str = 'prepend',
                 uniform_bound: Optional[float] = None,
                 **kwargs):
        super().__init__(
            num_tokens, embed_dims, uniform_bound=uniform_bound, **kwargs)
        if isinstance(fourier_ratio, bool) or not isinstance(
                fourier_ratio, (int, float)) or not 0 <= fourier_ratio <= 1:
            raise ValueError(f'fourier_ratio must be a number in [0, 1], '
                             f'got {fourier_ratio!r}')
        if fourier_dims not in FOURIER_DIMS:
            raise ValueError(f'Unknown fourier_dims {fourier_dims!r}; choose '
                             f'from {tuple(FOURIER_DIMS)}')
        if location not in FOURIER_LOCATIONS:
            raise ValueError(f'Unknown location {location!r}; choose from '
                             f'{FOURIER_LOCATIONS}')
        self.fourier_ratio = fourier_ratio
        self.fourier_dims = fourier_dims
        self.location = location
        self.num_fourier = math.floor(num_tokens * fourier_ratio)

    def _combine(self, tokens: torch.Tensor) -> torch.Tensor:
        """Learnt tokens (..., M, D) to the layer's prompts."""
        m = self.num_fourier
        if m == 0:  # the released FOURIER_PERCENTAGE == 0: plain VPT
            return tokens
        fourier = fourier_transform(tokens[..., :m, :], self.fourier_dims)
        parts = [fourier, tokens[..., m:, :]]
        if self.location == 'append':
            parts.reverse()
        return torch.cat(parts, dim=-2)

    def forward(self) -> torch.Tensor:
        return self._combine(super().forward())

    def per_image(self, tokens: torch.Tensor, dropout: nn.Module,
                  batch_size: int) -> torch.Tensor:
        learnt = super().forward().to(tokens.dtype)
        return self._combine(
            dropout(learnt.unsqueeze(0).expand(batch_size, -1, -1)))

    def _keep_rows(self, index: torch.Tensor) -> None:
        raise NotImplementedError(
            'FourierPrompt cannot keep a subset of its tokens: which tokens '
            'are transformed, and the transform itself, depend on all of '
            'them (condense plain VPT prompts instead)')

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, fourier_ratio='
                f'{self.fourier_ratio}, fourier_dims={self.fourier_dims!r}, '
                f'location={self.location!r}')
