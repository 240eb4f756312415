"""Rank of attention maps against the number of prompts (PC paper, Fig. 2).

An attention map A (N x N, rows summing to one) is not symmetric, so its
spectrum is read from A·Aᵀ: the eigenvalues of A·Aᵀ are the squared singular
values of A. The normalised cumulative eigenvalue curve
``c_k = sum_{i<=k} s_i / sum_i s_i`` (eigenvalues sorted descending) shows how
few directions carry the attention; ``effective_rank`` is the number of
eigenvalues needed to reach a share (0.9) of the total.
"""
from typing import Dict, List

import torch


def attention_maps(backbone, images: torch.Tensor) -> List[torch.Tensor]:
    """Softmax attention of every layer of a prompted ViT, (B, H, N, N).

    Recomputed from each layer's ``attn_input`` tap with the layer's own
    qkv projection; the forward itself keeps the fused kernel.
    """
    saved = {k: set(v) for k, v in backbone._tap_requests.items()}
    for layer in range(backbone.num_layers):
        backbone.request_taps(layer, ['attn_input'])
    try:
        with torch.no_grad():
            backbone(images)
            maps = []
            for layer in range(backbone.num_layers):
                h = backbone.tap_outputs[layer]['attn_input']
                attn = backbone.layers[layer].attn
                B, N, _ = h.shape
                qkv = attn.qkv(h).reshape(B, N, 3, attn.num_heads,
                                          attn.head_dims).permute(
                                              2, 0, 3, 1, 4)
                logits = qkv[0] @ qkv[1].transpose(-2, -1)
                maps.append((logits * attn.head_dims**-0.5).softmax(-1))
    finally:
        backbone._tap_requests = saved
        backbone.tap_outputs = {}
    return maps


def cumulative_eigenvalues(attention: torch.Tensor) -> torch.Tensor:
    """Normalised cumulative eigenvalues of A·Aᵀ, averaged over all leading
    dimensions (images, heads): shape (N,), ending at 1."""
    gram = attention @ attention.transpose(-2, -1)
    eig = torch.linalg.eigvalsh(gram.double()).flip(-1).clamp_min(0)
    curve = eig.cumsum(-1) / eig.sum(-1, keepdim=True)
    return curve.reshape(-1, curve.shape[-1]).mean(0).float()


def effective_rank(curve: torch.Tensor, share: float = 0.9) -> int:
    """Eigenvalues needed for ``share`` of the total (1-based count)."""
    return int(torch.searchsorted(curve, torch.tensor(share)).item()) + 1


def attention_rank_summary(backbone,
                           images: torch.Tensor,
                           share: float = 0.9) -> Dict[str, object]:
    """Per-layer curves and effective ranks with mean and std over layers."""
    curves = [
        cumulative_eigenvalues(a) for a in attention_maps(backbone, images)
    ]
    ranks = torch.tensor([effective_rank(c, share) for c in curves],
                         dtype=torch.float)
    stacked = torch.stack(curves)
    return dict(
        curves=stacked,
        curve_mean=stacked.mean(0),
        curve_std=stacked.std(0),
        ranks=ranks.tolist(),
        rank_mean=ranks.mean().item(),
        rank_std=ranks.std().item(),
        num_tokens=stacked.shape[1])
