"""SPT: "Revisiting the Power of Prompt for Visual Tuning" (Self-Prompt
Tuning): each layer's prompts start as prototypes (k-means or pooled
windows) of the prompt-free model's patch tokens entering that layer."""
from .prototypes import PROTOTYPE_METHODS, prototype_tokens, window_grid
from .spt_init_hook import SPTInitHook, collect_patch_tokens

__all__ = [
    'PROTOTYPE_METHODS', 'prototype_tokens', 'window_grid', 'SPTInitHook',
    'collect_patch_tokens'
]
