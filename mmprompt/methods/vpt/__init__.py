"""VPT: "Visual Prompt Tuning" (Jia et al., ECCV 2022). The prompted
backbone is VPT itself, so it lives in :mod:`mmprompt.core`
(:class:`~mmprompt.core.PromptViT`, shallow and deep, with
:class:`~mmprompt.core.PromptTokens`); this folder holds what is VPT's own
beyond it."""
from mmprompt.core import PromptTokens, PromptViT, vpt_uniform_bound

__all__ = ['PromptViT', 'PromptTokens', 'vpt_uniform_bound']
