from typing import Dict, Optional

from mmengine.dist import broadcast, get_dist_info
from mmengine.hooks import Hook

from mmprompt.core import unwrap_model
from mmprompt.core.data_init import (eval_mode, input_batches,
                                     preserved_rng_state, prompted_backbone,
                                     sample_indices)
from mmprompt.registry import HOOKS
from .whitening import QK_PRODUCTS, WhiteningStatistics, fit_whitening


@HOOKS.register_module()
class BPTWhiteningHook(Hook):
    """Compute BPT's whitening matrices before training.

    For every prompt generator of the PromptViT backbone that takes a
    whitening matrix (``WhitenedPrompt``, ``BilinearPrompt`` with
    ``b_init='whitening'``) and does not have one yet, layer l's matrix is
    computed from ``num_images`` training images (a seeded random choice,
    split across ranks) through the frozen, prompt-free backbone:
    ``M_i = W_q W_k^T X_i^T``, ``Sigma = sum_i M_i M_i^T / (N T)``,
    ``W = U diag((s + eps)^-1/2) U^T``. Sums are all-reduced across ranks,
    so any number of processes gives the same matrix, and rank 0's result is
    broadcast. The matrices live in the generators' state: a checkpoint
    carries them, and a resumed run (or ``load_from``) finds them there and
    does not recompute them. The global RNG states are restored afterwards.

    Args:
        num_images (int): Training images. Defaults to 100.
        eps (float): Added to the eigenvalues of Sigma. Defaults to 1e-5.
        average_images (bool): The released code's statistics exactly:
            average ``M_i`` over images first, ``Sigma = Mbar Mbar^T / D``
            (it divides by the D rows of ``Mbar``; rank <= T, so eps decides
            the rest, where the released code's whitening is not finite).
            Defaults to False.
        qk_product (str): ``'row_vector'`` (``W_q W_k^T`` with
            ``q = x W_q``: the attention logits, default) or ``'transposed'``
            (the product of the nn.Linear weights, as the official code).
        batch_size (int): Images per forward. Defaults to 16.
        seed (int): Seed of the image choice. Defaults to 0.
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 num_images: int = 100,
                 eps: float = 1e-5,
                 average_images: bool = False,
                 qk_product: str = 'row_vector',
                 batch_size: int = 16,
                 seed: int = 0):
        if qk_product not in QK_PRODUCTS:
            raise ValueError(f'Unknown qk_product {qk_product!r}; choose '
                             f'from {QK_PRODUCTS}')
        if not eps > 0:
            raise ValueError(f'eps must be > 0, got eps={eps!r}')
        sample_indices(num_images, num_images, seed)  # validates num_images
        self.num_images = num_images
        self.eps = eps
        self.average_images = average_images
        self.qk_product = qk_product
        self.batch_size = batch_size
        self.seed = seed
        self.last_stats: Optional[Dict[int, WhiteningStatistics]] = None

    def before_train(self, runner) -> None:
        model = unwrap_model(runner.model)
        backbone = prompted_backbone(model)
        generators = {
            i: g
            for i, g in enumerate(backbone.prompts) if g.takes_whitening
        }
        if not generators:
            raise ValueError(
                f'BPTWhiteningHook: no prompt generator of '
                f'{type(backbone).__name__} takes a whitening matrix (use '
                f"BilinearPromptViT with variant='fwhiten'/'twhiten' or "
                f"bilinear_init='whitening')")
        todo = {i: g for i, g in generators.items() if g.needs_whitening}
        if not todo:
            runner.logger.info(
                f'BPTWhiteningHook: the whitening matrices of layers '
                f'{sorted(generators)} are in the model state (checkpoint); '
                f'not recomputed')
            return
        dataset = runner.train_dataloader.dataset
        indices = sample_indices(len(dataset), self.num_images, self.seed)
        rank, world_size = get_dist_info()
        with preserved_rng_state(), eval_mode(model):
            matrices, stats = fit_whitening(
                backbone,
                input_batches(model, dataset, indices[rank::world_size],
                              self.batch_size),
                todo,
                self.eps,
                self.average_images,
                self.qk_product,
                all_reduce=True)
        for layer in sorted(todo):
            gen = todo[layer]
            ref = gen.shared_factor
            whitening = matrices[layer].to(ref.device, ref.dtype)
            broadcast(whitening, 0)
            gen.set_whitening(whitening)
        self.last_stats = stats
        runner.logger.info(
            f'BPTWhiteningHook: whitening matrices of layers '
            f'{sorted(todo)} from {self.num_images} images '
            f'({world_size} process(es)), eps={self.eps:g}, qk_product='
            f"'{self.qk_product}', average_images={self.average_images}")


def whitening_hook_cfg(cfg) -> Optional[dict]:
    """The :class:`BPTWhiteningHook` entry of ``cfg.custom_hooks`` (with or
    without its ``mmprompt.`` scope), or None."""
    for hook in cfg.get('custom_hooks', []) or []:
        if str(hook.get('type', '')).split('.')[-1] == 'BPTWhiteningHook':
            return dict(hook)
    return None
