"""DA-VPT's class-to-prompt mapping by cosine k-means (scikit-learn).

Classes are clustered by their representations (L2-normalised, so Euclidean
k-means is cosine k-means); each cluster is one prompt of the guided layer.
With no more classes than prompts, class c simply takes prompt c.

``feature_norm``: ``'l2'`` clusters the representations as they are;
``'layer'`` first applies a layer norm without affine parameters to each
(the released code's ``kmeans_norm: layer``, used by all its configs): the
per-class mean over the D features is removed before the cosine.
"""
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans

FEATURE_NORMS = ('l2', 'layer')


def normalise_class_features(features: torch.Tensor,
                             feature_norm: str = 'l2') -> torch.Tensor:
    """(C, D) features on the unit sphere, as k-means sees them."""
    if feature_norm not in FEATURE_NORMS:
        raise ValueError(f'Unknown feature_norm {feature_norm!r}; choose '
                         f'from {FEATURE_NORMS}')
    x = features.double()
    if feature_norm == 'layer':
        x = F.layer_norm(x, x.shape[1:])
    return F.normalize(x, dim=1)


def initial_mapping(
        class_features: torch.Tensor,
        num_prompts: int,
        seed: int = 0,
        feature_norm: str = 'l2') -> Tuple[torch.Tensor, torch.Tensor]:
    """Map C classes to ``num_prompts`` prompts from class features (C, D).

    Returns ``(class_to_prompt (C,), centroids (num_prompts, D))``.
    """
    num_classes, dims = class_features.shape
    x = normalise_class_features(class_features, feature_norm)
    if num_classes <= num_prompts:
        centroids = torch.zeros(num_prompts, dims, dtype=torch.float64)
        centroids[:num_classes] = x
        return torch.arange(num_classes), centroids.float()
    kmeans = KMeans(n_clusters=num_prompts, n_init=10, random_state=seed)
    labels = kmeans.fit_predict(x.numpy())
    return (torch.from_numpy(labels.astype(np.int64)),
            torch.from_numpy(kmeans.cluster_centers_).float())


def update_mapping(
        class_means: torch.Tensor,
        seen: torch.Tensor,
        class_to_prompt: torch.Tensor,
        centroids: torch.Tensor,
        seed: int = 0,
        feature_norm: str = 'l2') -> Tuple[torch.Tensor, torch.Tensor]:
    """Re-cluster the classes seen this epoch, warm-started at the previous
    centroids. A class not seen keeps its prompt; a cluster left without a
    seen class keeps its centroid.

    Args:
        class_means: (C, D) class means of the epoch (rows of unseen classes
            are ignored).
        seen: (C,) bool.
        class_to_prompt: (C,) the previous mapping.
        centroids: (M, D) the previous centroids.
        feature_norm (str): ``'l2'`` or ``'layer'`` (see the module).
    """
    num_classes = class_means.shape[0]
    num_prompts = centroids.shape[0]
    mapping = class_to_prompt.clone()
    centroids = centroids.clone()
    if num_classes <= num_prompts or int(seen.sum()) < num_prompts:
        # Identity mapping, or too few seen classes to re-cluster into M
        # groups: keep the mapping (documented behaviour).
        return mapping, centroids
    x = normalise_class_features(class_means[seen], feature_norm).numpy()
    kmeans = KMeans(
        n_clusters=num_prompts,
        init=centroids.double().numpy(),
        n_init=1,
        random_state=seed)
    labels = torch.from_numpy(kmeans.fit_predict(x).astype(np.int64))
    mapping[seen] = labels
    new_centroids = torch.from_numpy(kmeans.cluster_centers_).float()
    used = torch.zeros(num_prompts, dtype=torch.bool)
    used[labels] = True
    centroids[used] = new_centroids[used]
    return mapping, centroids
