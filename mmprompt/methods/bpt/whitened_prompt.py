import torch
import torch.nn as nn

from mmprompt.registry import MODELS
from .factored_prompt import FactoredPrompt


@MODELS.register_module()
class WhitenedPrompt(FactoredPrompt):
    """Whitened prompts of BPT: ``P = A @ W``.

    ``A`` (M x D) ~ N(0, std^2) is trainable; ``W`` (D x D) is the whitening
    matrix of the layer, computed from data before training by
    :class:`mmprompt.methods.bpt.BPTWhiteningHook` and kept in the model state
    (checkpoints carry it, a resumed run does not recompute it).

    Args:
        num_tokens (int): Number of prompt tokens M.
        embed_dims (int): Token width D.
        trainable (bool): False (fWhiten): ``W`` is a fixed buffer. True
            (tWhiten): ``W`` is a parameter initialised to the whitening
            matrix. Defaults to False.
        std (float): Std of the normal init of ``A``. Defaults to 0.02.
    """

    takes_whitening = True

    def __init__(self,
                 num_tokens: int,
                 embed_dims: int,
                 trainable: bool = False,
                 std: float = 0.02):
        if not isinstance(trainable, bool):
            raise TypeError(f'trainable must be a bool, got {trainable!r}')
        super().__init__(num_tokens, embed_dims, embed_dims, std)
        self.trainable = trainable
        eye = torch.eye(embed_dims)
        if trainable:
            self.whitening = nn.Parameter(eye)
        else:
            self.register_buffer('whitening', eye)
        self.reset_parameters()

    @property
    def shared_factor(self) -> torch.Tensor:
        return self.whitening

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.a.normal_(0., self.std)

    def _set_factor_from_whitening(self, whitening: torch.Tensor) -> None:
        self.whitening.copy_(whitening)

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, trainable={self.trainable}'
