from typing import List, Sequence, Union

import numpy as np
import torch
from mmpretrain.models import ImageClassifier
from mmpretrain.structures import DataSample

from mmprompt.registry import MODELS
from .guidance import DAVPTGuidanceMixin


@MODELS.register_module()
class DAVPTClassifier(DAVPTGuidanceMixin, ImageClassifier):
    """DA-VPT: an image classifier whose guided-layer prompts are pulled
    towards the classes mapped to them by metric losses.

    ``L = L_CE + beta * L_ML(x, p) + lambda * L_ML(p, x_cls)``, logged as
    ``loss_cls``, ``loss_ml_patch`` and ``loss_ml_cls``. Each class c is
    mapped to one prompt ``class_to_prompt[c]`` of the guided layer; the
    mapping is set and updated by :class:`DAVPTMappingHook`, which
    must be in ``custom_hooks``. State and losses:
    :class:`~mmprompt.methods.davpt.DAVPTGuidanceMixin`.

    Sources of the anchors and proxies (``anchor_source``):

    - ``'paper'``: proxies are the prompts' query projections ``p W_Q``;
      ``x`` is each image's mean post-attention patch output, ``x_cls`` its
      CLS query, all at the guided layer.
    - ``'released'`` (the released code): proxies are the raw prompt tokens;
      ``x`` is the mean of the patch tokens entering the guided layer,
      ``x_cls`` the CLS token's query projection there (the released
      ``cls_type='query'``). With ``metric_loss=dict(positive_mean='all',
      proxy_scale=<loss_vpt_scale_ratio>)`` the losses are the released
      code's.

    Args:
        guided_layer (int | Sequence[int]): The layer whose prompts are
            guided, or several sharing one mapping (the losses average
            over them).
            Defaults to -1 (the last).
        metric_loss (dict): Config of the metric loss.
            Defaults to ``dict(type='mmprompt.DAVPTLoss')``.
        beta (float): Weight of ``L_ML(x, p)``. Defaults to 1.
        lam (float): Weight of ``L_ML(p, x_cls)``. Defaults to 1.
        anchor_source (str): ``'paper'`` or ``'released'``.
        **kwargs: Arguments of :class:`mmpretrain.models.ImageClassifier`.
    """

    def __init__(self,
                 *args,
                 guided_layer: Union[int, Sequence[int]] = -1,
                 metric_loss: dict = dict(type='mmprompt.DAVPTLoss'),
                 beta: float = 1.,
                 lam: float = 1.,
                 anchor_source: str = 'paper',
                 **kwargs):
        super().__init__(*args, **kwargs)
        self._init_class_prompt_guidance(self.head.num_classes, guided_layer,
                                         metric_loss, beta, lam, anchor_source)

    @property
    def num_classes(self) -> int:
        return self.class_to_prompt.numel()

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> dict:
        self._check_mapping_ready()
        feats = self.extract_feat(inputs)
        losses = {
            ('loss_cls' if k == 'loss' else k): v
            for k, v in self.head.loss(feats, data_samples).items()
        }
        labels = torch.cat([s.gt_label for s in data_samples])
        losses.update(self.guidance_losses(feats, labels))
        return losses

    def backbone_feature(self, feats) -> torch.Tensor:
        feat = feats[-1] if isinstance(feats, (tuple, list)) else feats
        if feat.dim() != 2:
            raise ValueError('Class representations need a pooled (B, D) '
                             f'feature, got {tuple(feat.shape)}')
        return feat

    def image_labels(self, dataset) -> np.ndarray:
        """The class of every training image (the first mapping)."""
        if not hasattr(dataset, 'get_gt_labels'):
            raise TypeError(
                f'{type(dataset).__name__} has no get_gt_labels(): the '
                'class-to-prompt mapping needs a labelled training set')
        return np.asarray(dataset.get_gt_labels())
