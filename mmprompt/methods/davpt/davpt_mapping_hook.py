from typing import Optional

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.dist import all_reduce, broadcast, get_rank
from mmengine.hooks import Hook

from mmprompt.core import unwrap_model
from mmprompt.registry import HOOKS
from .mapping import FEATURE_NORMS, initial_mapping, update_mapping

# How the first mapping pools an image's final tokens (``first_pooling``).
FIRST_POOLINGS = ('model', 'norm_of_mean')


@HOOKS.register_module()
class DAVPTMappingHook(Hook):
    """DA-VPT: map classes to guided prompts by k-means, re-map as training
    goes.

    - Before training (unless a loaded checkpoint already holds a mapping):
      the representation of class c is the mean pooled backbone feature
      (final-norm CLS for ``out_type='cls_token'``) of its first
      ``num_images_per_class`` training images, through the frozen model
      without prompts; classes are clustered by cosine k-means into the M
      guided prompts (class c -> prompt c when C <= M).
    - After each training epoch from ``start_epoch`` (or every
      ``interval_iters`` iterations, for iteration-based loops): the class
      means accumulated by the model during that epoch's training forwards
      (an epoch before ``start_epoch`` does not count) are
      summed across ranks and re-clustered, warm-started at the previous
      centroids; a class not seen keeps its prompt, a cluster left empty
      keeps its centroid. k-means runs on rank 0 and the result is
      broadcast.

    Mapping and centroids are buffers of the model
    (:class:`DAVPTClassifier`, :class:`DAVPTEncoderDecoder`),
    so checkpoints carry them and resume restores them without
    recomputing. The class of a training image is the model's to say
    (``model.image_labels(dataset)``: the label, or the dominant label of a
    segmentation mask).

    Args:
        num_images_per_class (int): Images per class for the initial
            representations. Defaults to 10.
        start_epoch (int): First epoch (1-based, counted at its end) after
            which the mapping is updated. Defaults to 1. The released
            code's ``dynamic_kmeans: d`` re-maps after the 0-based epochs
            ``>= d``: ``start_epoch=d + 1``.
        interval_iters (int, optional): Update every this many iterations
            instead of every epoch.
        feature_norm (str): How class representations are normalised for
            cosine k-means: ``'l2'`` (default) or ``'layer'`` (a layer norm
            without affine first, the released ``kmeans_norm: layer``).
        seed (int): k-means seed. Defaults to 0.
        first_pooling (str): The image feature of the first mapping:
            ``'model'`` (default): the model's own pooled feature (for
            ``out_type='avg_all_tokens'`` the mean of the final-normed
            patch tokens); ``'norm_of_mean'``: the backbone's final norm of
            the mean of the last layer's patch tokens, the released code's
            first mapping for MAE (its ``create_vit(global_pool=True)``
            pools, then norms; its training forward norms, then pools).
            Re-mappings use the training features either way.
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 num_images_per_class: int = 10,
                 start_epoch: int = 1,
                 interval_iters: Optional[int] = None,
                 feature_norm: str = 'l2',
                 seed: int = 0,
                 first_pooling: str = 'model'):
        if feature_norm not in FEATURE_NORMS:
            raise ValueError(f'Unknown feature_norm {feature_norm!r}; '
                             f'choose from {FEATURE_NORMS}')
        if first_pooling not in FIRST_POOLINGS:
            raise ValueError(f'Unknown first_pooling {first_pooling!r}; '
                             f'choose from {FIRST_POOLINGS}')
        for name, value in (('num_images_per_class', num_images_per_class),
                            ('start_epoch', start_epoch)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be an int >= 1, got '
                                 f'{value!r}')
        if interval_iters is not None and (not isinstance(interval_iters, int)
                                           or interval_iters < 1):
            raise ValueError(f'interval_iters must be an int >= 1, got '
                             f'{interval_iters!r}')
        self.num_images_per_class = num_images_per_class
        self.start_epoch = start_epoch
        self.interval_iters = interval_iters
        self.feature_norm = feature_norm
        self.seed = seed
        self.first_pooling = first_pooling

    @staticmethod
    def _model(runner):
        model = unwrap_model(runner.model)
        if not hasattr(model, 'set_mapping'):  # the mapping protocol
            raise TypeError('DAVPTMappingHook needs a model with a '
                            'class-to-prompt mapping (type='
                            f"'mmprompt.DAVPTClassifier'), got "
                            f'{type(model).__name__}')
        return model

    # ------------------------------------------------------------------
    def before_train(self, runner) -> None:
        model = self._model(runner)
        if bool(model.mapping_ready):  # resumed or loaded: keep it
            runner.logger.info('Class-to-prompt mapping from the checkpoint:'
                               f' {model.class_to_prompt.tolist()}')
            return
        features, present = self.class_representations(runner, model)
        if get_rank() == 0:
            mapping, centroids = initial_mapping(features.cpu(),
                                                 model.num_guided_prompts,
                                                 self.seed, self.feature_norm)
            if not bool(present.all()):
                # classes no image belongs to: round-robin, re-mapped once
                # an image of theirs appears in training
                full = torch.arange(model.num_classes) % \
                    model.num_guided_prompts
                full[present] = mapping
                mapping = full
        else:
            mapping = torch.zeros(model.num_classes, dtype=torch.long)
            centroids = torch.zeros_like(model.prompt_centroids.cpu())
        self._set(model, mapping, centroids)
        runner.logger.info(
            f'Initial class-to-prompt mapping ({model.num_classes} classes, '
            f'{model.num_guided_prompts} prompts): '
            f'{model.class_to_prompt.tolist()}')

    @torch.no_grad()
    def class_representations(self, runner, model) -> torch.Tensor:
        dataset = runner.train_dataloader.dataset
        labels = np.asarray(model.image_labels(dataset))
        chosen, missing = [], []
        for c in range(model.num_classes):
            idx = np.flatnonzero(labels == c)[:self.num_images_per_class]
            if len(idx) == 0:
                if not model.classes_may_lack_images:
                    raise ValueError(
                        f'Class {c} has no training image: cannot build its '
                        f'representation ({model.num_classes} classes, '
                        f'{len(labels)} images)')
                missing.append(c)
                continue
            chosen.append(idx)
        if not chosen:
            raise ValueError('no training image has a class: cannot map '
                             'classes to prompts')
        if missing:
            runner.logger.warning(
                f'{len(missing)} of {model.num_classes} classes are no '
                f'training image\'s class ({missing[:20]}'
                f'{" ..." if len(missing) > 20 else ""}): mapped '
                'round-robin until training sees them')
        fewest = min(len(idx) for idx in chosen)
        if fewest < self.num_images_per_class:
            runner.logger.warning(
                f'num_images_per_class={self.num_images_per_class} but the '
                f'smallest class has {fewest} training images: using what '
                'exists')
        pool = self._first_pool(model)
        was_training = model.training
        model.eval()
        features = []
        try:
            with model.backbone.without_prompts():
                for idx in chosen:
                    # one image at a time: dense pipelines give images of
                    # different sizes, which a test-mode batch refuses
                    feats = []
                    for i in idx:
                        data = model.data_preprocessor(
                            pseudo_collate([dataset[int(i)]]), False)
                        feats.append(pool(data['inputs']).float())
                    features.append(torch.cat(feats).mean(0))
        finally:
            model.train(was_training)
        present = torch.ones(model.num_classes, dtype=torch.bool)
        present[missing] = False
        return torch.stack(features), present

    def _first_pool(self, model):
        """images -> (B, D) features of the first mapping."""
        backbone = model.backbone
        if self.first_pooling == 'model':
            return lambda inputs: model.backbone_feature(backbone(inputs))
        if not getattr(backbone, 'final_norm', False) or \
                getattr(backbone, 'out_type', None) == 'cls_token':
            raise ValueError(
                "first_pooling='norm_of_mean' needs every final token at the "
                "backbone's final norm (final_norm=True, out_type not "
                f"'cls_token'), got final_norm="
                f"{getattr(backbone, 'final_norm', None)!r}, out_type="
                f"{getattr(backbone, 'out_type', None)!r}")

        def pool(inputs):
            seen = []  # the last layer's tokens as the final norm gets them
            handle = backbone.ln1.register_forward_pre_hook(
                lambda module, args: seen.append(args[0]))
            try:
                backbone(inputs)
            finally:
                handle.remove()
            patches = seen[-1][:, backbone.num_extra_tokens:]  # no prompts
            return backbone.ln1(patches.mean(dim=1))

        return pool

    # ------------------------------------------------------------------
    def after_train_epoch(self, runner) -> None:
        if self.interval_iters is not None:
            return
        if runner.epoch + 1 >= self.start_epoch:
            self.remap(runner)
        else:  # each re-mapping sees the class means of its own epoch
            model = self._model(runner)
            model.class_feat_sum.zero_()
            model.class_feat_count.zero_()

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        if self.interval_iters is not None and \
                (runner.iter + 1) % self.interval_iters == 0:
            self.remap(runner)

    @torch.no_grad()
    def remap(self, runner) -> None:
        model = self._model(runner)
        sums = model.class_feat_sum.clone()
        counts = model.class_feat_count.clone()
        all_reduce(sums, 'sum')
        all_reduce(counts, 'sum')
        if get_rank() == 0:
            seen = counts > 0
            means = sums / counts.clamp_min(1).unsqueeze(1)
            mapping, centroids = update_mapping(means.cpu(), seen.cpu(),
                                                model.class_to_prompt.cpu(),
                                                model.prompt_centroids.cpu(),
                                                self.seed, self.feature_norm)
        else:
            mapping = model.class_to_prompt.cpu().clone()
            centroids = model.prompt_centroids.cpu().clone()
        self._set(model, mapping, centroids)
        model.class_feat_sum.zero_()
        model.class_feat_count.zero_()
        runner.logger.info('Class-to-prompt mapping: '
                           f'{model.class_to_prompt.tolist()}')

    @staticmethod
    def _set(model, mapping, centroids) -> None:
        device = model.class_to_prompt.device
        mapping, centroids = mapping.to(device), centroids.to(device)
        broadcast(mapping, 0)  # DDP does not sync buffers
        broadcast(centroids, 0)
        model.set_mapping(mapping, centroids)
