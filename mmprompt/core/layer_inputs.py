from typing import Dict, Iterable, Tuple

import torch


def prompt_free_layer_inputs(
        backbone, inputs: torch.Tensor,
        layers: Iterable[int]) -> Tuple[Dict[int, torch.Tensor], tuple]:
    """Tokens entering each of ``layers`` when the ViT runs without prompts.

    The prompt-free forward of a :class:`~mmprompt.core.PromptViT`
    stopped after the last requested layer (what ``without_prompts()`` and
    the ``layer_input`` tap would give, without running the layers after
    it); the prompt generators are not called, so it works before they are
    ready.

    Args:
        backbone (PromptViT): The prompted backbone.
        inputs (Tensor): Preprocessed images (B, 3, H, W).
        layers (Iterable[int]): Layer indices.

    Returns:
        tuple: ``{layer: tokens (B, T, D)}`` with the residual-stream tokens
        ``[extra tokens (CLS), patches]`` before the layer (before its first
        norm), and the patch resolution (h, w).
    """
    layers = sorted({int(i) % backbone.num_layers for i in layers})
    x, patch_resolution = backbone.embed_tokens(inputs)
    out = {}
    for i, layer in enumerate(backbone.layers):
        if i in layers:
            out[i] = x
        if i >= layers[-1]:
            break
        x = layer(x)
    return out, patch_resolution
