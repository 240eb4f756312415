from .base_prompt import BasePromptGenerator
from .prompt_tokens import PROMPT_INITS, PromptTokens, vpt_uniform_bound

__all__ = [
    'BasePromptGenerator', 'PromptTokens', 'PROMPT_INITS', 'vpt_uniform_bound'
]
