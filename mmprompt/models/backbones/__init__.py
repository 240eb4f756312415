from .bilinear_prompt_vit import BilinearPromptViT
from .prompt_swin import PromptSwin
from .prompt_vit import PromptViT
from .prompted_backbone import PromptedBackboneMixin

__all__ = [
    'PromptViT', 'BilinearPromptViT', 'PromptSwin', 'PromptedBackboneMixin'
]
