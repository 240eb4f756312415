from abc import ABCMeta, abstractmethod

import torch
import torch.nn as nn


class BasePromptGenerator(nn.Module, metaclass=ABCMeta):
    """Produces the prompt tokens of one layer, a tensor of shape (M, D).

    A prompted backbone owns one generator per prompted layer and calls it once
    per forward; the generator decides how the tokens are parameterised (plain
    tokens, a low-rank product, a whitened product, ...). Methods that act on
    prompts (initialisation from data, condensation) talk to generators, never
    to the backbone's internals.

    Args:
        num_tokens (int): Number of prompt tokens M of this layer.
        embed_dims (int): Token width D.
    """

    def __init__(self, num_tokens: int, embed_dims: int):
        super().__init__()
        if not isinstance(num_tokens, int) or num_tokens < 0:
            raise ValueError(
                f'num_tokens must be an int >= 0, got {num_tokens!r}')
        self.num_tokens = num_tokens
        self.embed_dims = embed_dims

    @abstractmethod
    def forward(self) -> torch.Tensor:
        """Return the prompt tokens, shape (num_tokens, embed_dims)."""

    def extra_repr(self) -> str:
        return f'num_tokens={self.num_tokens}, embed_dims={self.embed_dims}'
