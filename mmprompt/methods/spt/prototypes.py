"""SPT prompt initialisation: prompts of layer l from the
patch tokens entering layer l of the prompt-free model."""
import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans

PROTOTYPE_METHODS = ('kmeans', 'random', 'window')


def window_grid(num_tokens: int) -> Tuple[int, int]:
    """The most square grid (gh, gw) with gh * gw == num_tokens."""
    gh = int(math.isqrt(num_tokens))
    while num_tokens % gh:
        gh -= 1
    return gh, num_tokens // gh


def prototype_tokens(patches: torch.Tensor,
                     num_tokens: int,
                     method: str,
                     patch_resolution: Optional[Tuple[int, int]] = None,
                     seed: int = 0,
                     max_tokens: Optional[int] = None) -> torch.Tensor:
    """Prototype prompts (num_tokens x D) from patch tokens (N, L, D).

    - ``'kmeans'``: k-means centres (scikit-learn ``KMeans``, ``n_init=1``,
      ``random_state=seed``) of all N*L tokens (a seeded random subset of
      ``max_tokens`` of them if given).
    - ``'random'``: ``num_tokens`` distinct tokens drawn at random (seeded).
    - ``'window'``: each image's patch grid is average-pooled into a
      gh x gw grid of windows (the most square factorisation of
      ``num_tokens``, adaptive pooling); the pooled tokens are averaged
      over the images.
    """
    if method not in PROTOTYPE_METHODS:
        raise ValueError(f'Unknown prototype method {method!r}; choose from '
                         f'{PROTOTYPE_METHODS}')
    N, L, D = patches.shape
    if num_tokens == 0:
        return patches.new_zeros(0, D)
    if method == 'window':
        if patch_resolution is None or patch_resolution[0] * \
                patch_resolution[1] != L:
            raise ValueError(f'window pooling needs the patch resolution of '
                             f'the {L} tokens, got {patch_resolution}')
        gh, gw = window_grid(num_tokens)
        if gh > patch_resolution[0] or gw > patch_resolution[1]:
            raise ValueError(
                f'num_prompts={num_tokens} needs a {gh}x{gw} window grid, '
                f'more than the {patch_resolution} patch grid')
        grid = patches.transpose(1, 2).reshape(N, D, *patch_resolution)
        pooled = F.adaptive_avg_pool2d(grid.double(), (gh, gw))
        return pooled.mean(0).reshape(D, -1).t().to(patches.dtype)
    tokens = patches.reshape(-1, D)
    g = torch.Generator().manual_seed(seed)
    if method == 'random':
        if tokens.shape[0] < num_tokens:
            raise ValueError(f'{tokens.shape[0]} patch tokens cannot give '
                             f'{num_tokens} distinct prompts; use more '
                             f'images (num_images)')
        keep = torch.randperm(tokens.shape[0], generator=g)[:num_tokens]
        return tokens[keep].clone()
    if max_tokens is not None and tokens.shape[0] > max_tokens:
        keep = torch.randperm(tokens.shape[0], generator=g)[:max_tokens]
        tokens = tokens[keep.sort().values]
    if tokens.shape[0] < num_tokens:
        raise ValueError(f'k-means of {tokens.shape[0]} patch tokens cannot '
                         f'give {num_tokens} centres; use more images '
                         f'(num_images)')
    kmeans = KMeans(n_clusters=num_tokens, n_init=1, random_state=seed)
    kmeans.fit(tokens.double().cpu().numpy())
    return torch.from_numpy(kmeans.cluster_centers_).to(patches.dtype)
