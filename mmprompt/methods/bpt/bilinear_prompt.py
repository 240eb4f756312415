import torch
import torch.nn as nn

from mmprompt.registry import MODELS
from .factored_prompt import FactoredPrompt

BILINEAR_INITS = ('xavier', 'whitening')
# How B takes its c x D entries from the whitening matrix W (D x D).
WHITENING_SUBSETS = ('rows', 'per_column')


def check_width(width, embed_dims: int) -> int:
    """``width`` must be an int in [1, embed_dims]."""
    if isinstance(width, bool) or not isinstance(width, int) \
            or not 1 <= width <= embed_dims:
        raise ValueError(f'width must be an int in [1, embed_dims='
                         f'{embed_dims}], got width={width!r}')
    return width


@MODELS.register_module()
class BilinearPrompt(FactoredPrompt):
    """Bilinear prompts of BPT: ``P = A @ B``.

    ``A`` (M x c) ~ N(0, std^2) and ``B`` (c x D) are both trainable, so a
    layer costs ``M * c + c * D`` parameters instead of ``M * D``. The paper
    implements ``B`` as a bias-free 1x1 convolution over a sqrt(M) x sqrt(M)
    grid; a matmul is the same map and takes any M.

    Args:
        num_tokens (int): Number of prompt tokens M.
        embed_dims (int): Token width D.
        width (int): Inner width c, 1 <= c <= D.
        std (float): Std of the normal init of ``A``. Defaults to 0.02.
        b_init (str): ``'xavier'`` (xavier-uniform ``B``, ready at once) or
            ``'whitening'``: ``B`` is set from the layer's whitening matrix
            ``W`` by :class:`mmprompt.methods.bpt.BPTWhiteningHook` before
            training, as ``whitening_subset`` says. Defaults to
            ``'xavier'``.
        whitening_subset (str): With ``b_init='whitening'``: ``'rows'``
            (default): ``B = W[r]`` for c distinct rows ``r`` chosen with
            ``seed``, so each row of ``B`` is a whitening direction.
            ``'per_column'``: the released code's draw: column d of ``B``
            takes c entries of row d of ``W`` at its own random subset of
            columns, ``B[j, d] = W[d, idx[d, j]]`` (the released code's
            conv weight ``gather(W, 1, argsort(rand(D, D), 1)[:, :c])``,
            here seeded). With one subset for every d the two are the same
            (W is symmetric).
        seed (int): Seed of the choice of whitening entries. Defaults to 0.
        draw_index (int): With ``'per_column'``: this generator's place in
            a sequence of draws from one generator seeded with ``seed``;
            its noise is the ``draw_index``-th (0-based) ``rand(D, D)`` of
            that sequence. The released deep model builds its twelve
            ``conv1x1`` in order, each drawing its own ``rand(D, D)`` from
            the one global generator, so layer l's pattern is draw l:
            :class:`~mmprompt.methods.bpt.BilinearPromptViT` sets
            ``draw_index=l``. Defaults to 0 (one layer: the shallow model's
            single draw).
    """

    def __init__(self,
                 num_tokens: int,
                 embed_dims: int,
                 width: int = 75,
                 std: float = 0.02,
                 b_init: str = 'xavier',
                 whitening_subset: str = 'rows',
                 seed: int = 0,
                 draw_index: int = 0):
        if b_init not in BILINEAR_INITS:
            raise ValueError(f'Unknown b_init {b_init!r}; choose from '
                             f'{BILINEAR_INITS}')
        if whitening_subset not in WHITENING_SUBSETS:
            raise ValueError(f'Unknown whitening_subset {whitening_subset!r}'
                             f'; choose from {WHITENING_SUBSETS}')
        if isinstance(draw_index, bool) or not isinstance(draw_index, int) \
                or draw_index < 0:
            raise ValueError(f'draw_index must be an int >= 0, got '
                             f'draw_index={draw_index!r}')
        self.b_init = b_init
        self.draw_index = draw_index
        self.whitening_subset = whitening_subset
        super().__init__(num_tokens, embed_dims,
                         check_width(width, embed_dims), std)
        self.width = width
        self.seed = seed
        self.b = nn.Parameter(torch.empty(width, embed_dims))
        self.reset_parameters()

    @property
    def takes_whitening(self) -> bool:
        return self.b_init == 'whitening'

    @property
    def shared_factor(self) -> torch.Tensor:
        return self.b

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.a.normal_(0., self.std)
            if self.b_init == 'xavier':
                nn.init.xavier_uniform_(self.b)
            else:
                self.b.zero_()

    def whitening_rows(self) -> torch.Tensor:
        """Indices of the whitening rows that make up ``B``
        (``whitening_subset='rows'``)."""
        g = torch.Generator().manual_seed(self.seed)
        return torch.randperm(self.embed_dims, generator=g)[:self.width]

    def whitening_columns(self) -> torch.Tensor:
        """(D, c) indices: row d lists the entries of ``W``'s row d that
        fill column d of ``B`` (``whitening_subset='per_column'``): the
        ``draw_index``-th ``rand(D, D)`` of a generator seeded with
        ``seed``, argsorted along each row."""
        g = torch.Generator().manual_seed(self.seed)
        for _ in range(self.draw_index + 1):  # the earlier layers' draws
            noise = torch.rand(self.embed_dims, self.embed_dims, generator=g)
        return torch.argsort(noise, dim=1)[:, :self.width]

    def _set_factor_from_whitening(self, whitening: torch.Tensor) -> None:
        if self.whitening_subset == 'rows':
            self.b.copy_(whitening[self.whitening_rows()])
        else:
            index = self.whitening_columns().to(whitening.device)
            self.b.copy_(torch.gather(whitening, 1, index).t())

    def extra_repr(self) -> str:
        text = (f'{super().extra_repr()}, width={self.width}, '
                f'b_init={self.b_init!r}')
        if self.b_init == 'whitening':
            text += f', whitening_subset={self.whitening_subset!r}'
            if self.whitening_subset == 'per_column':
                text += f', draw_index={self.draw_index}'
        return text
