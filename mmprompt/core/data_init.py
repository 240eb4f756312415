"""Shared by the hooks that initialise prompt state from training images
before training (BPTWhiteningHook, SPTInitHook)."""
import random
from contextlib import contextmanager
from typing import Iterator, List

import numpy as np
import torch
from mmengine.dataset import pseudo_collate

from .model_access import find_prompted_backbone
from .prompt_vit import PromptViT


def prompted_backbone(model):
    """The model's :class:`~mmprompt.core.PromptViT` backbone (these
    hooks read ViT layer inputs)."""
    return find_prompted_backbone(model, PromptViT)[1]


def sample_indices(num_samples: int, num_images: int, seed: int) -> List[int]:
    """``num_images`` distinct dataset indices, a seeded random choice."""
    if isinstance(num_images, bool) or not isinstance(num_images, int) \
            or num_images < 1:
        raise ValueError(f'num_images must be an int >= 1, got '
                         f'{num_images!r}')
    if num_images > num_samples:
        raise ValueError(f'num_images={num_images} but the training set has '
                         f'{num_samples} images')
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(num_samples, generator=g)[:num_images].tolist()


def input_batches(model, dataset, indices: List[int],
                  batch_size: int) -> Iterator[torch.Tensor]:
    """Preprocessed inputs of ``dataset[indices]`` (the model's own data
    preprocessor, in test mode), ``batch_size`` images at a time."""
    for start in range(0, len(indices), batch_size):
        data = pseudo_collate(
            [dataset[i] for i in indices[start:start + batch_size]])
        yield model.data_preprocessor(data, False)['inputs']


@contextmanager
def preserved_rng_state():
    """Data transforms draw from the global RNGs; restoring them keeps a run
    with the hook (which a resumed run skips) on the same random stream."""
    py, npy, th = random.getstate(), np.random.get_state(), \
        torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() \
        else None
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(th)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


@contextmanager
def eval_mode(module: torch.nn.Module):
    """Every submodule in eval mode (no dropout); modes restored after."""
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        yield
    finally:
        for m, mode in modes.items():
            m.training = mode
