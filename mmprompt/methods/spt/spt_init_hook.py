from typing import Dict, Optional

import torch
from mmengine.dist import broadcast
from mmengine.hooks import Hook

from mmprompt.core import unwrap_model
from mmprompt.core.data_init import (eval_mode, input_batches,
                                     preserved_rng_state, prompted_backbone,
                                     sample_indices)
from mmprompt.core.layer_inputs import prompt_free_layer_inputs
from mmprompt.registry import HOOKS
from .prototypes import PROTOTYPE_METHODS, prototype_tokens


@torch.no_grad()
def collect_patch_tokens(backbone, batches, layers):
    """Patch tokens entering each of ``layers`` of the prompt-free model:
    ``({layer: (N, L, D)}, patch_resolution)``."""
    parts: Dict[int, list] = {l: [] for l in layers}
    resolution = None
    for inputs in batches:
        tokens, hw = prompt_free_layer_inputs(backbone, inputs, layers)
        if resolution not in (None, hw):
            raise ValueError(f'images give patch grids {resolution} and {hw}'
                             f': prototypes need one input size')
        resolution = hw
        for l in layers:
            parts[l].append(tokens[l][:, backbone.num_extra_tokens:].cpu())
    return {l: torch.cat(p) for l, p in parts.items()}, resolution


@HOOKS.register_module()
class SPTInitHook(Hook):
    """SPT: initialise ``prompt_init='prototype'`` prompts from data.

    Before training, the prompts of layer l (every generator with
    ``needs_data_init``) are set from the patch tokens entering layer l of
    the prompt-free, frozen backbone over ``num_images`` training images (a
    seeded random choice): k-means centres (scikit-learn), random tokens or
    window pooling (:func:`mmprompt.methods.spt.prototype_tokens`). Every rank
    computes from the same images with the same seed and rank 0's result is
    broadcast. The tokens and a ``data_init_done`` buffer are model state:
    checkpoints carry them and a resumed run (or ``load_from``) does not redo
    the initialisation. The global RNG states are restored afterwards.

    Args:
        method (str): ``'kmeans'``, ``'random'`` or ``'window'``.
            Defaults to ``'kmeans'``.
        num_images (int): Training images. Defaults to 100.
        max_tokens (int, optional): k-means on a seeded random subset of at
            most this many tokens per layer. Defaults to None (all).
        batch_size (int): Images per forward. Defaults to 16.
        seed (int): Seed of the image choice, subsets and k-means.
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 method: str = 'kmeans',
                 num_images: int = 100,
                 max_tokens: Optional[int] = None,
                 batch_size: int = 16,
                 seed: int = 0):
        if method not in PROTOTYPE_METHODS:
            raise ValueError(f'Unknown prototype method {method!r}; choose '
                             f'from {PROTOTYPE_METHODS}')
        sample_indices(num_images, num_images, seed)  # validates num_images
        self.method = method
        self.num_images = num_images
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.seed = seed

    def before_train(self, runner) -> None:
        model = unwrap_model(runner.model)
        backbone = prompted_backbone(model)
        generators = {
            i: g
            for i, g in enumerate(backbone.prompts)
            if g.data_init == 'prototype'
        }
        if not generators:
            raise ValueError("SPTInitHook: the backbone has no prompts with "
                             "prompt_init='prototype'")
        todo = {i: g for i, g in generators.items() if g.needs_data_init}
        if not todo:
            runner.logger.info(
                f'SPTInitHook: the prototype prompts of layers '
                f'{sorted(generators)} are in the model state (checkpoint); '
                f'not recomputed')
            return
        dataset = runner.train_dataloader.dataset
        indices = sample_indices(len(dataset), self.num_images, self.seed)
        with preserved_rng_state(), eval_mode(model):
            patches, resolution = collect_patch_tokens(
                backbone,
                input_batches(model, dataset, indices, self.batch_size),
                sorted(todo))
        for layer, gen in sorted(todo.items()):
            tokens = prototype_tokens(
                patches[layer],
                gen.num_tokens,
                self.method,
                resolution,
                seed=self.seed,
                max_tokens=self.max_tokens)
            tokens = tokens.to(gen.tokens.device, gen.tokens.dtype)
            broadcast(tokens, 0)
            gen.init_from_data(tokens)
        runner.logger.info(f"SPTInitHook: '{self.method}' prompts of layers "
                           f'{sorted(todo)} from {self.num_images} images')
