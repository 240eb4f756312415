"""PC: "Do We Really Need a Large Number of Visual Prompts?" (Prompt
Condensation): score each prompt by the loss change its removal causes,
keep the best, and fine-tune the kept ones."""
from .condensation import (SCORE_METHODS, condensable_backbone,
                           condense_prompts, kept_positions,
                           replace_optimizer_params, score_prompts,
                           select_prompts)
from .prompt_condensation_hook import PromptCondensationHook

__all__ = [
    'SCORE_METHODS', 'condensable_backbone', 'condense_prompts',
    'kept_positions', 'replace_optimizer_params', 'score_prompts',
    'select_prompts', 'PromptCondensationHook'
]
