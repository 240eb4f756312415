from .prompt_vit import PromptViT

__all__ = ['PromptViT']
