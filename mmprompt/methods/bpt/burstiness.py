"""Burstiness statistics of BPT (paper Fig. 1).

Per layer, the value distributions of ``W_q W_k^T`` (D x D), of the
attention input tokens ``X`` (after the layer's first norm) and of
``M = W_q W_k^T X^T``, and after whitening of ``W W_q W_k^T`` and ``W M``.
Heavy tails ("bursts") show as a large kurtosis (a normal distribution has
3) and a large share of values beyond 3 standard deviations (0.27% for a
normal distribution).
"""
from typing import Dict, Iterable, Optional

import torch

from mmprompt.core.layer_inputs import prompt_free_layer_inputs
from .whitening import qk_matrix, qk_token_product

BURSTINESS_QUANTITIES = ('qk', 'x', 'qkx', 'qk_whitened', 'qkx_whitened')
QUANTITY_LABELS = {
    'qk': 'W_q W_k^T',
    'x': 'X',
    'qkx': 'W_q W_k^T X^T',
    'qk_whitened': 'W (W_q W_k^T)',
    'qkx_whitened': 'W (W_q W_k^T X^T)',
}


def burstiness_stats(values: torch.Tensor) -> Dict[str, float]:
    """Pearson kurtosis ``E[(v - mu)^4] / sigma^4`` (normal: 3) and the
    share of values with ``|v - mu| > 3 sigma`` (population moments)."""
    v = values.detach().reshape(-1).double()
    if v.numel() < 2:
        raise ValueError(f'need at least 2 values, got {v.numel()}')
    centred = v - v.mean()
    var = centred.pow(2).mean()
    std = var.sqrt()
    if std == 0:
        raise ValueError('all values are equal: kurtosis is undefined')
    return dict(
        count=int(v.numel()),
        mean=float(v.mean()),
        std=float(std),
        kurtosis=float(centred.pow(4).mean() / var.pow(2)),
        beyond_3sigma=float((centred.abs() > 3 * std).double().mean()))


@torch.no_grad()
def layer_burstiness_values(
        backbone,
        batches: Iterable[torch.Tensor],
        layers: Iterable[int],
        whitenings: Optional[Dict[int, torch.Tensor]] = None,
        qk_product: str = 'row_vector') -> Dict[int, Dict[str, torch.Tensor]]:
    """Values of each quantity of ``BURSTINESS_QUANTITIES`` per layer.

    Args:
        backbone: An mmpretrain ViT (PromptViT included); it runs without
            prompts, as the whitening is computed.
        batches: Preprocessed image batches (B, 3, H, W).
        layers: Layer indices.
        whitenings: ``{layer: W (D x D)}``; the whitened quantities are
            returned for these layers only.
        qk_product: ``'row_vector'`` or ``'transposed'`` (see
            :func:`qk_matrix`).

    Returns:
        ``{layer: {name: 1-D float64 tensor}}``; ``qkx`` holds the entries of
        ``M_i`` (D x T) of all images.
    """
    layers = sorted({int(i) % backbone.num_layers for i in layers})
    whitenings = whitenings or {}
    qks = {l: qk_matrix(backbone.layers[l].attn, qk_product) for l in layers}
    parts = {l: {k: [] for k in ('x', 'qkx', 'qkx_whitened')} for l in layers}
    for inputs in batches:
        tokens, _ = prompt_free_layer_inputs(backbone, inputs, layers)
        for l in layers:
            x = backbone.layers[l].ln1(tokens[l])
            m = qk_token_product(qks[l].to(x.device), x)
            parts[l]['x'].append(x.double().reshape(-1).cpu())
            parts[l]['qkx'].append(m.reshape(-1).cpu())
            if l in whitenings:
                w = whitenings[l].double().to(m.device)
                parts[l]['qkx_whitened'].append(
                    torch.einsum('ed,bdt->bet', w, m).reshape(-1).cpu())
    out = {}
    for l in layers:
        if not parts[l]['x']:
            raise ValueError('no image batches were given')
        qk = qks[l].cpu()
        out[l] = dict(
            qk=qk.reshape(-1),
            x=torch.cat(parts[l]['x']),
            qkx=torch.cat(parts[l]['qkx']))
        if l in whitenings:
            w = whitenings[l].double().cpu()
            out[l]['qk_whitened'] = (w @ qk).reshape(-1)
            out[l]['qkx_whitened'] = torch.cat(parts[l]['qkx_whitened'])
    return out
