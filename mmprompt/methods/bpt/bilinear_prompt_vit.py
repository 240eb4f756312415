from typing import Optional, Sequence

import torch.nn as nn

from mmprompt.core import PromptViT
from mmprompt.registry import MODELS
from .bilinear_prompt import BILINEAR_INITS

BPT_VARIANTS = ('bilinear', 'fwhiten', 'twhiten')


@MODELS.register_module()
class BilinearPromptViT(PromptViT):
    """PromptViT with the prompt generators of BPT (Bilinear Prompt Tuning).

    "Attention to the Burstiness in Visual Prompt Tuning". The
    backbone itself is
    :class:`PromptViT` (shallow or deep, any prompt count, per-layer counts);
    only the generator of each prompted layer changes:

    - ``'bilinear'``: :class:`BilinearPrompt`, ``P = A @ B``
      with ``A`` (M x width) and ``B`` (width x D) trainable.
    - ``'fwhiten'``: :class:`WhitenedPrompt`, ``P = A @ W``
      with ``W`` the layer's fixed whitening matrix (a buffer).
    - ``'twhiten'``: the same with ``W`` a parameter initialised to the
      whitening matrix.

    Whitening matrices come from data: add
    ``dict(type='mmprompt.BPTWhiteningHook')`` to ``custom_hooks``
    (needed for ``fwhiten``/``twhiten`` and ``bilinear_init='whitening'``).

    Args:
        variant (str): ``'bilinear'``, ``'fwhiten'`` or ``'twhiten'``.
            Defaults to ``'bilinear'``.
        width (int): Inner width c of the bilinear prompts,
            1 <= c <= embed_dims. Defaults to 75.
        bilinear_init (str): Init of ``B``: ``'xavier'`` or ``'whitening'``
            (c rows of the whitening matrix, as the official code does).
            Defaults to ``'xavier'``.
        bilinear_whitening_subset (str): How ``B`` takes its entries from
            the whitening matrix (``bilinear_init='whitening'``):
            ``'rows'`` (c whole rows, default; the same rows in every
            layer) or ``'per_column'`` (the released code's draw: prompted
            layer l takes the l-th ``rand(D, D)`` of one generator seeded
            with ``bilinear_seed``, as the released deep model's layers
            draw one after another); see
            :class:`~mmprompt.methods.bpt.BilinearPrompt`.
        bilinear_seed (int): Seed of the choice of whitening entries.
        trainable_factor_layers (Sequence[int], optional): The prompted
            layers whose shared factor (``B`` of ``'bilinear'``, ``W`` of
            ``'twhiten'``) trains; the others keep it fixed (``A`` trains in
            every layer). None: all. The released deep BPT training scripts
            train ``B`` of layers 8-11 only: ``(8, 9, 10, 11)``.
            Defaults to None.
        prompt_std (float): Std of the normal init of ``A``.
            Defaults to 0.02.
        **kwargs: Arguments of :class:`PromptViT` (``num_prompts``,
            ``prompt_mode``, ``prompt_dropout``, ``out_type``, ...).
            ``prompt_init`` does not apply (it is the init of plain tokens).
    """

    def __init__(self,
                 *args,
                 variant: str = 'bilinear',
                 width: int = 75,
                 bilinear_init: str = 'xavier',
                 bilinear_whitening_subset: str = 'rows',
                 bilinear_seed: int = 0,
                 trainable_factor_layers: Optional[Sequence[int]] = None,
                 prompt_std: float = 0.02,
                 prompt_cfg: Optional[dict] = None,
                 **kwargs):
        if variant not in BPT_VARIANTS:
            raise ValueError(f'Unknown variant {variant!r}; choose from '
                             f'{BPT_VARIANTS}')
        if bilinear_init not in BILINEAR_INITS:
            raise ValueError(f'Unknown bilinear_init {bilinear_init!r}; '
                             f'choose from {BILINEAR_INITS}')
        if prompt_cfg is not None:
            raise ValueError(
                f'BilinearPromptViT builds prompt_cfg from variant='
                f'{variant!r}; got prompt_cfg={prompt_cfg!r} (use PromptViT '
                f'to pass a generator config directly)')
        if variant == 'bilinear':
            prompt_cfg = dict(
                type='mmprompt.BilinearPrompt',
                width=width,
                std=prompt_std,
                b_init=bilinear_init,
                whitening_subset=bilinear_whitening_subset,
                seed=bilinear_seed)
        else:
            prompt_cfg = dict(
                type='mmprompt.WhitenedPrompt',
                trainable=variant == 'twhiten',
                std=prompt_std)
        super().__init__(
            *args, prompt_std=prompt_std, prompt_cfg=prompt_cfg, **kwargs)
        self.variant = variant
        if variant == 'bilinear' and bilinear_whitening_subset == \
                'per_column':
            for i, generator in enumerate(self.prompts):
                generator.draw_index = i
        self.trainable_factor_layers = self._fix_shared_factors(
            trainable_factor_layers)

    def _fix_shared_factors(self, layers: Optional[Sequence[int]]):
        """Freeze the shared factor of every prompted layer not in
        ``layers`` (None: all train); returns the sorted layers."""
        n = len(self.prompts)
        if layers is None:
            return None
        if isinstance(layers, (str, int)) or not all(
                isinstance(i, int) and not isinstance(i, bool)
                for i in layers):
            raise ValueError(f'trainable_factor_layers must be a list of '
                             f'layer indices or None, got {layers!r}')
        outside = [i for i in layers if not 0 <= i < n]
        if outside:
            raise ValueError(
                f'trainable_factor_layers={list(layers)}: {outside} are not '
                f'among the {n} prompted layers ({self.prompt_mode} prompts'
                f' of {self.num_layers} layers)')
        if self.variant == 'fwhiten':
            raise ValueError(
                "trainable_factor_layers does not apply to variant='fwhiten'"
                f' (its W is a fixed buffer), got {list(layers)}')
        for i, generator in enumerate(self.prompts):
            factor = generator.shared_factor
            if i not in layers and isinstance(factor, nn.Parameter):
                factor.requires_grad_(False)
        return sorted(set(layers))
