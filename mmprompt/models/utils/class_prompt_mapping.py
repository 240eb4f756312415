"""DA-VPT's class-to-prompt mapping by cosine k-means (scikit-learn).

Classes are clustered by their representations (L2-normalised, so Euclidean
k-means is cosine k-means); each cluster is one prompt of the guided layer.
With no more classes than prompts, class c simply takes prompt c.
"""
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans


def initial_mapping(class_features: torch.Tensor, num_prompts: int,
                    seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Map C classes to ``num_prompts`` prompts from class features (C, D).

    Returns ``(class_to_prompt (C,), centroids (num_prompts, D))``.
    """
    num_classes, dims = class_features.shape
    x = F.normalize(class_features.double(), dim=1)
    if num_classes <= num_prompts:
        centroids = torch.zeros(num_prompts, dims, dtype=torch.float64)
        centroids[:num_classes] = x
        return torch.arange(num_classes), centroids.float()
    kmeans = KMeans(n_clusters=num_prompts, n_init=10, random_state=seed)
    labels = kmeans.fit_predict(x.numpy())
    return (torch.from_numpy(labels.astype(np.int64)),
            torch.from_numpy(kmeans.cluster_centers_).float())


def update_mapping(class_means: torch.Tensor, seen: torch.Tensor,
                   class_to_prompt: torch.Tensor, centroids: torch.Tensor,
                   seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Re-cluster the classes seen this epoch, warm-started at the previous
    centroids. A class not seen keeps its prompt; a cluster left without a
    seen class keeps its centroid.

    Args:
        class_means: (C, D) class means of the epoch (rows of unseen classes
            are ignored).
        seen: (C,) bool.
        class_to_prompt: (C,) the previous mapping.
        centroids: (M, D) the previous centroids.
    """
    num_classes = class_means.shape[0]
    num_prompts = centroids.shape[0]
    mapping = class_to_prompt.clone()
    centroids = centroids.clone()
    if num_classes <= num_prompts or int(seen.sum()) < num_prompts:
        # Identity mapping, or too few seen classes to re-cluster into M
        # groups: keep the mapping (documented behaviour).
        return mapping, centroids
    x = F.normalize(class_means[seen].double(), dim=1).numpy()
    kmeans = KMeans(n_clusters=num_prompts, init=centroids.double().numpy(),
                    n_init=1, random_state=seed)
    labels = torch.from_numpy(kmeans.fit_predict(x).astype(np.int64))
    mapping[seen] = labels
    new_centroids = torch.from_numpy(kmeans.cluster_centers_).float()
    used = torch.zeros(num_prompts, dtype=torch.bool)
    used[labels] = True
    centroids[used] = new_centroids[used]
    return mapping, centroids
