from typing import List, Sequence, Union

import numpy as np
import torch
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.models import EncoderDecoder
from mmseg.structures import SegDataSample

from mmprompt.registry import MODELS
from .guidance import DAVPTGuidanceMixin


def dominant_label(seg_map: torch.Tensor, num_classes: int,
                   ignore_index: int) -> int:
    """The most frequent class of a label map (ties: the smaller class);
    -1 if no pixel has a class (all ``ignore_index``)."""
    values = torch.as_tensor(seg_map).flatten().long()
    values = values[(values != ignore_index) & (values >= 0)
                    & (values < num_classes)]
    if values.numel() == 0:
        return -1
    return int(torch.bincount(values, minlength=num_classes).argmax())


@MODELS.register_module()
class DAVPTEncoderDecoder(DAVPTGuidanceMixin, EncoderDecoder):
    """DA-VPT for semantic segmentation: mmseg's ``EncoderDecoder`` whose
    guided-layer prompts are pulled towards the classes mapped to them.

    The class of an image is the dominant label of its mask (the ignore
    index excluded); an image without one takes no part in the metric
    losses. ``L = L_decode + L_aux + beta * L_ML(x, p) + lambda *
    L_ML(p, x_cls)`` with the state and losses of
    :class:`~mmprompt.methods.davpt.DAVPTGuidanceMixin` (mapping and
    centroids are buffers; :class:`mmprompt.methods.davpt.DAVPTMappingHook`
    maps and re-maps, every ``interval_iters`` in iteration-based loops). The
    pooled representation of an image is the spatial mean of the last
    feature map. A class that is no image's dominant class is mapped
    round-robin until one appears.

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
        **kwargs: Arguments of :class:`mmseg.models.EncoderDecoder`.
    """

    classes_may_lack_images = True

    def __init__(self,
                 *args,
                 guided_layer: Union[int, Sequence[int]] = -1,
                 metric_loss: dict = dict(type='mmprompt.DAVPTLoss'),
                 beta: float = 1.,
                 lam: float = 1.,
                 anchor_source: str = 'paper',
                 **kwargs):
        super().__init__(*args, **kwargs)
        self._init_class_prompt_guidance(self.num_classes, guided_layer,
                                         metric_loss, beta, lam, anchor_source)

    def image_class(self, sample: SegDataSample) -> int:
        return dominant_label(sample.gt_sem_seg.data, self.num_classes,
                              self.decode_head.ignore_index)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[SegDataSample]) -> dict:
        self._check_mapping_ready()
        feats = self.extract_feat(inputs)
        losses = dict(self._decode_head_forward_train(feats, data_samples))
        if self.with_auxiliary_head:
            losses.update(
                self._auxiliary_head_forward_train(feats, data_samples))
        labels = torch.tensor([self.image_class(s) for s in data_samples])
        losses.update(self.guidance_losses(feats, labels))
        return losses

    def backbone_feature(self, feats) -> torch.Tensor:
        feat = feats[-1] if isinstance(feats, (tuple, list)) else feats
        if feat.dim() != 4:
            raise ValueError('DAVPTEncoderDecoder pools (B, C, H, W) '
                             f'feature maps, got {tuple(feat.shape)}')
        return feat.mean(dim=(2, 3))

    def image_labels(self, dataset) -> np.ndarray:
        """The dominant class of every training mask, read with mmseg's
        ``LoadAnnotations`` (its ``reduce_zero_label`` and label map)."""
        labels = []
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            if 'seg_map_path' not in info:
                raise TypeError(
                    f'{type(dataset).__name__} gives no seg_map_path: the '
                    'class-to-prompt mapping needs labelled masks')
            loader = LoadAnnotations(
                reduce_zero_label=info.get('reduce_zero_label', False))
            results = loader(dict(info, seg_fields=[]))
            labels.append(
                dominant_label(
                    torch.from_numpy(results['gt_seg_map'].astype(np.int64)),
                    self.num_classes, self.decode_head.ignore_index))
        return np.asarray(labels)
