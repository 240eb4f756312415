from .prompt_condensation import (SCORE_METHODS, condense_prompts,
                                  find_prompted_backbone, kept_positions,
                                  replace_optimizer_params, score_prompts,
                                  select_prompts)

__all__ = [
    'SCORE_METHODS', 'condense_prompts', 'find_prompted_backbone',
    'kept_positions', 'replace_optimizer_params', 'score_prompts',
    'select_prompts'
]
