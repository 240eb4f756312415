"""VFPT: "Visual Fourier Prompt Tuning" (NeurIPS 2024): VPT whose prompts
are partly the real part of the Fourier transform of learnt tokens. Its
prompt generator is :class:`FourierPrompt`; its recipe is
:mod:`.recipe`."""
from .fourier_prompt import (FOURIER_DIMS, FOURIER_LOCATIONS, FourierPrompt,
                             fourier_transform)

__all__ = [
    'FOURIER_DIMS', 'FOURIER_LOCATIONS', 'FourierPrompt', 'fourier_transform'
]
