"""BPT whitening matrices.

For a layer with attention input tokens ``X_i`` (T x D, after the layer's
first norm) of image i, ``M_i = W_q W_k^T X_i^T`` (D x T) in row-vector
convention (``q = x W_q``; ``W_q`` is the transposed ``nn.Linear`` weight):
``P M_i`` are the attention logits of prompts ``P`` against the tokens
(before the 1/sqrt(d) scale, summed over heads). Then

    Sigma = sum_i M_i M_i^T / (N T),   W = U diag((s + eps)^-1/2) U^T

(ZCA, ``Sigma = U diag(s) U^T``), so that ``W M_i`` has identity second
moment on the range of Sigma.

The released BPT code computes instead ``Mbar = mean_i M_i`` and
``Sigma = Mbar Mbar^T / D`` (it divides by ``Mbar.size(0)``, the D rows, not
the T tokens), with no eps: Sigma has rank <= T, so with T < D its
``u diag(s^-1/2) v^T`` is finite but arbitrary and very large outside the
range of Sigma (round-off leaves those singular values near 1e-8, not 0); it
has NaN/inf only where the SVD returns a singular value of exactly 0.
``average_images=True`` reproduces that Sigma exactly; eps is the one
deliberate difference.
"""
import warnings
from typing import Dict, Iterable, Optional

import torch
from mmengine.dist import all_reduce, get_comm_device, get_world_size

from mmprompt.core.layer_inputs import prompt_free_layer_inputs

QK_PRODUCTS = ('row_vector', 'transposed')


def qk_matrix(attn, qk_product: str = 'row_vector') -> torch.Tensor:
    """``W_q W_k^T`` (D x D) of an mmpretrain ``MultiheadAttention``.

    ``'row_vector'``: ``W_q W_k^T`` with ``W = nn.Linear.weight^T``, i.e.
    ``Wq_lin^T Wk_lin`` (what the attention logits use). ``'transposed'``:
    ``Wq_lin Wk_lin^T``, the product of the ``nn.Linear`` weights that the
    official BPT code uses.
    """
    if qk_product not in QK_PRODUCTS:
        raise ValueError(f'Unknown qk_product {qk_product!r}; choose from '
                         f'{QK_PRODUCTS}')
    weight = attn.qkv.weight
    D = weight.shape[1]
    wq, wk = weight[:D].double(), weight[D:2 * D].double()
    return wq.t() @ wk if qk_product == 'row_vector' else wq @ wk.t()


def qk_token_product(qk: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``M_i = QK X_i^T`` for a batch ``x`` (B, T, D): (B, D, T), float64."""
    return torch.einsum('de,bte->bdt', qk.double(), x.double())


class WhiteningStatistics:
    """Accumulates the second moment of ``M_i`` over images.

    Args:
        embed_dims (int): D.
        average_images (bool): The released code's statistics: average
            ``M_i`` over the images first and use ``Sigma = Mbar Mbar^T / D``
            (its ``n = Mbar.size(0)`` is the D rows; rank at most T).
            Defaults to False (``sum_i M_i M_i^T / (N T)``, the second
            moment of the token vectors).
    """

    def __init__(self, embed_dims: int, average_images: bool = False):
        self.embed_dims = embed_dims
        self.average_images = average_images
        self.sum_mmt = torch.zeros(embed_dims, embed_dims, dtype=torch.float64)
        self.sum_m: Optional[torch.Tensor] = None
        self.num_images = 0
        self.tokens_per_image: Optional[int] = None

    def update(self, m: torch.Tensor) -> None:
        """Add a batch ``m`` (B, D, T) of ``M_i``."""
        B, D, T = m.shape
        if D != self.embed_dims:
            raise ValueError(f'M has {D} rows, expected embed_dims='
                             f'{self.embed_dims}')
        if self.tokens_per_image not in (None, T):
            raise ValueError(
                f'images give {T} tokens, earlier ones '
                f'{self.tokens_per_image}: whitening statistics need one '
                f'input size')
        self.tokens_per_image = T
        m = m.detach().double().cpu()
        self.sum_mmt += torch.einsum('bdt,bet->de', m, m)
        if self.average_images:
            total = m.sum(0)
            self.sum_m = total if self.sum_m is None else self.sum_m + total
        self.num_images += B

    def all_reduce(self) -> None:
        """Sum the statistics of all ranks (no-op without distribution)."""
        if get_world_size() == 1:
            return
        device = _dist_device()
        counts = torch.tensor(
            [float(self.num_images),
             float(self.tokens_per_image or 0)],
            dtype=torch.float64,
            device=device)
        sizes = counts[1:].clone()
        all_reduce(counts, op='sum')
        all_reduce(sizes, op='max')
        T = int(sizes.item())
        if self.tokens_per_image not in (None, T):
            raise ValueError('ranks saw images of different sizes')
        self.tokens_per_image = T or None
        self.num_images = int(round(counts[0].item()))
        sum_mmt = self.sum_mmt.to(device)
        all_reduce(sum_mmt, op='sum')
        self.sum_mmt = sum_mmt.cpu()
        if self.average_images and T:
            sum_m = (self.sum_m if self.sum_m is not None else torch.zeros(
                self.embed_dims, T, dtype=torch.float64)).to(device)
            all_reduce(sum_m, op='sum')
            self.sum_m = sum_m.cpu()

    @property
    def num_token_vectors(self) -> int:
        """Number of column vectors Sigma is built from (its rank bound)."""
        T = self.tokens_per_image or 0
        return T if self.average_images else self.num_images * T

    def covariance(self) -> torch.Tensor:
        if self.num_images == 0:
            raise ValueError('no images were seen: cannot compute Sigma')
        T = self.tokens_per_image
        if self.average_images:
            mean = self.sum_m / self.num_images
            # the released code divides by Mbar.size(0) = D, not by T
            return mean @ mean.t() / self.embed_dims
        return self.sum_mmt / (self.num_images * T)


@torch.no_grad()
def compute_whitening_statistics(
        backbone,
        batches: Iterable[torch.Tensor],
        layers: Iterable[int],
        average_images: bool = False,
        qk_product: str = 'row_vector') -> Dict[int, WhiteningStatistics]:
    """Accumulate the whitening statistics of ``layers`` over ``batches``
    (the prompt-free model; tokens = CLS and patches after ``ln1``)."""
    layers = sorted(set(layers))
    stats = {
        l: WhiteningStatistics(backbone.embed_dims, average_images)
        for l in layers
    }
    qks = {l: qk_matrix(backbone.layers[l].attn, qk_product) for l in layers}
    for inputs in batches:
        tokens, _ = prompt_free_layer_inputs(backbone, inputs, layers)
        for l in layers:
            x = backbone.layers[l].ln1(tokens[l])
            stats[l].update(qk_token_product(qks[l].to(x.device), x))
    return stats


def _dist_device():
    return get_comm_device()


def whitening_matrix(sigma: torch.Tensor,
                     eps: float,
                     num_token_vectors: Optional[int] = None,
                     name: str = 'Sigma') -> torch.Tensor:
    """ZCA whitening ``U diag((s + eps)^-1/2) U^T`` of ``sigma`` (float64).

    With fewer token vectors than dimensions, Sigma is singular and the
    directions outside the data are scaled by ``eps^-1/2``: a warning says
    so, stating eps.
    """
    if not eps > 0:
        raise ValueError(f'eps must be > 0, got eps={eps!r}')
    D = sigma.shape[0]
    if num_token_vectors is not None and num_token_vectors < D:
        warnings.warn(
            f'{name} is built from {num_token_vectors} token vectors, fewer '
            f'than embed_dims={D}: it is singular (rank <= '
            f'{num_token_vectors}), so the whitening is not stable; it '
            f'relies on eps={eps:g} (directions without data are scaled by '
            f'eps^-1/2 = {eps ** -0.5:.3g}). Use more images (num_images).',
            UserWarning,
            stacklevel=2)
    sigma = sigma.double()
    sigma = (sigma + sigma.t()) / 2
    s, u = torch.linalg.eigh(sigma)
    s = s.clamp(min=0.)
    return (u * (s + eps).rsqrt()) @ u.t()


def fit_whitening(backbone,
                  batches: Iterable[torch.Tensor],
                  layers: Iterable[int],
                  eps: float,
                  average_images: bool = False,
                  qk_product: str = 'row_vector',
                  all_reduce: bool = False):
    """BPT's whitening matrix of each of ``layers``, fitted on ``batches``
    through the prompt-free model: ``({layer: W (float64)}, {layer:
    statistics})``. The one fit the hook, the benchmark and the analysis
    tools share; ``all_reduce`` sums the statistics over the processes of
    a distributed run first."""
    stats = compute_whitening_statistics(backbone, batches, layers,
                                         average_images, qk_product)
    matrices = {}
    for layer in sorted(stats):
        if all_reduce:
            stats[layer].all_reduce()
        matrices[layer] = whitening_matrix(
            stats[layer].covariance(),
            eps,
            stats[layer].num_token_vectors,
            name=f'Sigma of layer {layer}')
    return matrices, stats
