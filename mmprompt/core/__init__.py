"""What every method stands on, written once: the prompted backbones
(:class:`PromptViT`, :class:`PromptSwin`), the prompted layer with its taps
and the shared-prefix attention, prompt generators' base and VPT's plain
prompt tokens, and how hooks reach the backbone inside a model."""
from .base_prompt import BasePromptGenerator
from .layer_inputs import prompt_free_layer_inputs
from .model_access import find_prompted_backbone, unwrap_model
from .parameter_count import count_parameters
from .prompt_swin import PromptSwin
from .prompt_tokens import PROMPT_INITS, PromptTokens, vpt_uniform_bound
from .prompt_vit import ARCH_ZOO, TAP_NAMES, PromptViT
from .prompted_backbone import PROMPT_MODES, PromptedBackboneMixin
from .shared_prefix_attention import shared_prefix_attention

__all__ = [
    'BasePromptGenerator', 'PromptTokens', 'PROMPT_INITS', 'vpt_uniform_bound',
    'PromptViT', 'PromptSwin', 'PromptedBackboneMixin', 'PROMPT_MODES',
    'ARCH_ZOO', 'TAP_NAMES', 'find_prompted_backbone', 'unwrap_model',
    'count_parameters', 'prompt_free_layer_inputs', 'shared_prefix_attention'
]
