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

    Keeping a subset of the tokens (:meth:`keep_tokens`, used by Prompt
    Condensation) records which of the original tokens survive in the buffer
    ``kept_index``, so a checkpoint tells a fresh model how to take it.

    The protocol hooks and backbones use (every generator has these):

    - :meth:`backbone_defaults`: which of the backbone's ``prompt_*``
      arguments the generator takes, so the backbone fills them in without
      knowing the generator's type.
    - ``takes_whitening`` / ``needs_whitening`` / :meth:`set_whitening`:
      BPT's whitening matrix (:class:`mmprompt.methods.bpt.BPTWhiteningHook`).
    - ``data_init`` / ``needs_data_init`` / :meth:`init_from_data`: tokens
      computed from training images (SPT's ``'prototype'``,
      :class:`mmprompt.methods.spt.SPTInitHook`).
    - ``shared_factor``: the factor all tokens share (``P = A F``), or None.

    Args:
        num_tokens (int): Number of prompt tokens M of this layer.
        embed_dims (int): Token width D.
    """

    takes_whitening = False
    # the data-driven initialisation the tokens wait for, e.g. 'prototype'
    data_init = None

    @classmethod
    def backbone_defaults(cls, init: str, uniform_bound: float,
                          std: float) -> dict:
        """The backbone's ``prompt_init``/``prompt_std`` and VPT's uniform
        bound as this generator's arguments (a layer's ``prompt_cfg`` may
        override them); by default it takes none."""
        return {}

    @property
    def needs_whitening(self) -> bool:
        return False

    def set_whitening(self, whitening: torch.Tensor) -> None:
        raise RuntimeError(f'{type(self).__name__}({self.extra_repr()}) '
                           'takes no whitening matrix')

    @property
    def needs_data_init(self) -> bool:
        return False

    def init_from_data(self, tokens: torch.Tensor) -> None:
        raise RuntimeError(f'{type(self).__name__}({self.extra_repr()}) '
                           'takes no tokens from data')

    @property
    def shared_factor(self):
        """The factor every token shares (``F`` of ``P = A F``), or None
        for tokens without one."""
        return None

    def __init__(self, num_tokens: int, embed_dims: int):
        super().__init__()
        if not isinstance(num_tokens, int) or num_tokens < 0:
            raise ValueError(
                f'num_tokens must be an int >= 0, got {num_tokens!r}')
        self.num_tokens = num_tokens
        self.embed_dims = embed_dims
        # Set by keep_tokens; None (absent from the state dict) until then.
        self.register_buffer('kept_index', None)

    @abstractmethod
    def forward(self) -> torch.Tensor:
        """Return the prompt tokens, shape (num_tokens, embed_dims)."""

    def per_image(self, tokens: torch.Tensor, dropout: nn.Module,
                  batch_size: int) -> torch.Tensor:
        """Every image's copy of this layer's prompts, (B, M, D), each
        with its own prompt-dropout mask (VPT's semantics), where prompts
        do not run as a shared prefix.

        ``tokens`` is this generator's output in the forward's dtype. A
        generator whose tokens transform learnt ones overrides this to drop
        out before its transform, where its paper's code does (VFPT).
        """
        return dropout(tokens.unsqueeze(0).expand(batch_size, -1, -1))

    def _keep_rows(self, index: torch.Tensor) -> None:
        """Keep the per-token parameters at ``index`` (sorted, unique)."""
        raise NotImplementedError(
            f'{type(self).__name__} cannot keep a subset of its tokens')

    def keep_tokens(self, index: torch.Tensor) -> None:
        """Keep only the tokens at ``index`` (positions among the current
        tokens); the others are removed from the parameters."""
        index = torch.as_tensor(index, dtype=torch.long).flatten()
        if index.numel() and (index.min() < 0
                              or index.max() >= self.num_tokens):
            raise IndexError(f'token index {index.tolist()} outside the '
                             f'{self.num_tokens} tokens')
        index = torch.unique(index)  # sorted: the order of tokens is kept
        original = self.kept_index if self.kept_index is not None \
            else torch.arange(self.num_tokens)
        self._keep_rows(index)
        self.num_tokens = int(index.numel())
        self.kept_index = original[index.to(original.device)].clone()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A model built directly with condensed counts takes on the record
        # of which original tokens its tokens are.
        key = prefix + 'kept_index'
        if self.kept_index is None and key in state_dict:
            self.kept_index = torch.empty_like(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f'num_tokens={self.num_tokens}, embed_dims={self.embed_dims}'
