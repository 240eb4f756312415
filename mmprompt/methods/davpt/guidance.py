"""DA-VPT's class-to-prompt guidance, shared by the classifier and the
segmentor that use it."""
from typing import Optional, Sequence, Union

import torch

from mmprompt.registry import MODELS

ANCHOR_SOURCES = ('paper', 'released')
# 'released': the released code's anchors, patch: mean of the guided
# block's input patch tokens, CLS: the CLS token's query projection (its
# ``cls_type='query'``, the default of every released config), proxies: the
# raw prompt tokens.
GUIDED_TAPS = {
    'paper': ('query', 'attn_output'),
    'released': ('prompts', 'layer_input', 'query')
}


def guided_anchors_and_proxies(backbone, layer: int, anchor_source: str):
    """(patch anchors (B, D), CLS anchors (B, D), proxies (M, D)) from the
    taps ``GUIDED_TAPS[anchor_source]`` of ``layer`` in the last forward."""
    taps = backbone.tap_outputs[layer]
    n = backbone.num_extra_tokens
    m = backbone.num_prompts_at(layer)
    if anchor_source == 'paper':
        query = taps['query']  # (B, n + M, D): CLS and prompt queries
        return (taps['attn_output'].mean(1), query[:,
                                                   0], query[:,
                                                             n:n + m].mean(0))
    tokens = taps['layer_input']
    return tokens[:, n + m:].mean(1), taps['query'][:, 0], taps['prompts']


class DAVPTGuidanceMixin:
    """The state and losses of DA-VPT, for a model with a prompted
    ``backbone`` (taps) and ``num_classes`` classes.

    ``L_ML = beta * L_ML(x, p) + lambda * L_ML(p, x_cls)`` (logged as
    ``loss_ml_patch`` and ``loss_ml_cls``): each class c is mapped to one
    prompt ``class_to_prompt[c]`` of the guided layer, set and updated by
    :class:`mmprompt.methods.davpt.DAVPTMappingHook`. State kept as buffers
    (checkpoints carry it, resume restores it): ``class_to_prompt`` (C,),
    ``prompt_centroids`` (M, D), ``mapping_ready``, and the per-class
    feature sums and counts of the running epoch (``class_feat_sum``,
    ``class_feat_count``) from which the hook re-maps.

    Several guided layers (``guided_layer=[9, 10, 11]``, as the released
    configs' ``proxy_prompt_start_idx``..``proxy_prompt_end_idx``) share one
    mapping; each has M prompts, and each loss is the mean over the guided
    layers (the released code divides the sum by the guided depth).

    A model using it has ``num_classes``, calls
    :meth:`_init_class_prompt_guidance` after building its backbone and
    implements :meth:`backbone_feature` (the pooled (B, D) representation
    of an image) and :meth:`image_labels` (one class per training image,
    -1 for none, for the first mapping). ``classes_may_lack_images``: True
    where a class may be no image's class (segmentation: a class that is
    never the dominant one); the first mapping then maps such a class
    round-robin (it takes no part in the losses until an image of it
    appears) instead of failing.
    """

    classes_may_lack_images = False

    def _init_class_prompt_guidance(self, num_classes: int,
                                    guided_layer: Union[int, Sequence[int]],
                                    metric_loss, beta: float, lam: float,
                                    anchor_source: str) -> None:
        for name, value in (('beta', beta), ('lam', lam)):
            if value < 0:
                raise ValueError(f'{name} must be >= 0, got {value!r}')
        if anchor_source not in ANCHOR_SOURCES:
            raise ValueError(f'Unknown anchor_source {anchor_source!r}; '
                             f'choose from {ANCHOR_SOURCES}')
        backbone = self.backbone
        if not hasattr(backbone, 'request_taps'):
            raise TypeError(f'{type(self).__name__} needs a prompted '
                            f'backbone with taps, got {type(backbone)}')
        layers = [guided_layer] if isinstance(guided_layer, int) \
            else list(guided_layer)
        if not layers or not all(isinstance(i, int) for i in layers):
            raise ValueError(f'guided_layer must be a layer index or a list '
                             f'of them, got {guided_layer!r}')
        for layer in layers:
            if not -backbone.num_layers <= layer < backbone.num_layers:
                raise ValueError(f'guided_layer {layer} outside the '
                                 f'{backbone.num_layers} layers')
        self.guided_layers = sorted({i % backbone.num_layers for i in layers})
        # the last guided layer (the only one unless a list is given)
        self.guided_layer = self.guided_layers[-1]
        counts = {i: backbone.num_prompts_at(i) for i in self.guided_layers}
        self.num_guided_prompts = counts[self.guided_layer]
        if self.num_guided_prompts == 0:
            raise ValueError(f'guided layer {self.guided_layer} has no '
                             'prompts (num_prompts=0 there)')
        if len(set(counts.values())) > 1:
            raise ValueError(
                f'guided layers share one class-to-prompt mapping, so they '
                f'need the same prompt count; num_prompts there: {counts}')
        self.metric_loss = MODELS.build(metric_loss)
        self.beta, self.lam = beta, lam
        self.anchor_source = anchor_source
        for layer in self.guided_layers:
            backbone.request_taps(layer, GUIDED_TAPS[anchor_source])

        dims = backbone.embed_dims
        self.register_buffer('class_to_prompt',
                             torch.zeros(num_classes, dtype=torch.long))
        self.register_buffer('prompt_centroids',
                             torch.zeros(self.num_guided_prompts, dims))
        self.register_buffer('mapping_ready', torch.zeros((),
                                                          dtype=torch.uint8))
        self.register_buffer('class_feat_sum', torch.zeros(num_classes, dims))
        self.register_buffer('class_feat_count', torch.zeros(num_classes))

    def _check_mapping_ready(self) -> None:
        if not bool(self.mapping_ready):
            raise RuntimeError('The class-to-prompt mapping is not set: add '
                               "dict(type='mmprompt.DAVPTMappingHook') to "
                               'custom_hooks')

    def guidance_losses(self, feats, labels: torch.Tensor) -> dict:
        """The metric losses of the last forward for images of class
        ``labels`` (B,), and the class sums of the epoch updated with the
        pooled ``feats``. Images labelled < 0 take no part."""
        labels = labels.to(self.class_to_prompt.device)
        valid = labels >= 0
        if not bool(valid.any()):
            raise ValueError('no image of the batch has a class label: '
                             'the metric losses need at least one')
        assign = self.class_to_prompt[labels[valid]]
        patch_losses, cls_losses = [], []
        for layer in self.guided_layers:
            patch, cls, proxies = guided_anchors_and_proxies(
                self.backbone, layer, self.anchor_source)
            patch_losses.append(
                self.metric_loss(patch[valid], proxies, assign))
            cls_losses.append(self.metric_loss(cls[valid], proxies, assign))
        losses = dict(
            loss_ml_patch=self.beta * torch.stack(patch_losses).mean(),
            loss_ml_cls=self.lam * torch.stack(cls_losses).mean())
        self._accumulate(self.backbone_feature(feats)[valid], labels[valid])
        return losses

    def backbone_feature(self, feats) -> torch.Tensor:
        raise NotImplementedError

    def image_labels(self, dataset):
        raise NotImplementedError

    @torch.no_grad()
    def _accumulate(self, feat: torch.Tensor, labels: torch.Tensor) -> None:
        self.class_feat_sum.index_add_(0, labels, feat.detach().float())
        self.class_feat_count.index_add_(
            0, labels, torch.ones_like(labels, dtype=torch.float))

    @torch.no_grad()
    def set_mapping(self,
                    class_to_prompt: torch.Tensor,
                    centroids: Optional[torch.Tensor] = None) -> None:
        if class_to_prompt.shape != self.class_to_prompt.shape or \
                class_to_prompt.min() < 0 or \
                class_to_prompt.max() >= self.num_guided_prompts:
            raise ValueError(
                f'class_to_prompt must map {self.class_to_prompt.numel()} '
                f'classes to '
                f'[0, {self.num_guided_prompts}), got '
                f'{class_to_prompt.tolist()}')
        self.class_to_prompt.copy_(class_to_prompt)
        if centroids is not None:
            self.prompt_centroids.copy_(centroids)
        self.mapping_ready.fill_(1)
