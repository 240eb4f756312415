"""Predictions of a bundle's tasks for images of mixed tasks, in
mmpretrain's inferencer style."""
import os.path as osp
from typing import List, Sequence, Union

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate

from .bundle import load_bundle
from .multi_task_vit import MultiTaskPromptViT, ServingError

Image = Union[str, np.ndarray]


def test_pipeline(cfg) -> List[dict]:
    """The config's test pipeline (``test_pipeline``, else the test or
    validation dataset's)."""
    if cfg.get('test_pipeline'):
        return list(cfg.test_pipeline)
    for loader in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset') or {}
        while 'dataset' in dataset and 'pipeline' not in dataset:
            dataset = dataset['dataset']  # wrappers
        if dataset.get('pipeline'):
            return list(dataset['pipeline'])
    raise ServingError('the config has no test pipeline')


class MultiTaskInferencer:
    """Serve every task of a bundle from one frozen backbone.

    ``MultiTaskInferencer('bundle.pth')(images, tasks=[...])`` returns, per
    image and in input order, ``dict(task, pred_label, pred_class,
    pred_score)`` from its task's prompts and head. Each image goes through
    its task's own test pipeline and data preprocessor (resize, mean/std,
    channel order); images of equal size after that run as one mixed batch,
    so tasks with another input size form a batch of their own.

    Args:
        bundle (str | MultiTaskPromptViT): a bundle file
            (``tools/deployment/bundle_tasks.py``) or a loaded model.
        device (str): Defaults to ``'cpu'``.
    """

    def __init__(self, bundle, device: str = 'cpu'):
        self.model = bundle if isinstance(bundle, MultiTaskPromptViT) else \
            load_bundle(bundle, device)
        self.device = device
        self.pipelines = {}
        for name in self.model.task_names:
            steps = test_pipeline(self.model.tasks[name].config)
            self.pipelines[name] = (
                Compose(steps),
                Compose([
                    s for s in steps
                    if s.get('type') not in ('LoadImageFromFile',
                                             'mmpretrain.LoadImageFromFile')
                ]))

    def preprocess(self, image: Image, task: str) -> torch.Tensor:
        """One image through its task's pipeline and data preprocessor:
        (3, H, W)."""
        from_file, from_array = self.pipelines[task]
        if isinstance(image, str):
            if not osp.isfile(image):
                raise ServingError(
                    f'task {task!r}: image file {image!r} does not exist')
            data = from_file(dict(img_path=image))
        elif isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[2] != 3 or \
                    image.dtype != np.uint8:
                raise ServingError(
                    f'task {task!r}: an image array must be uint8 (H, W, 3) '
                    f'(BGR, as mmcv reads files), got {image.dtype} '
                    f'{image.shape}')
            data = from_array(
                dict(
                    img=image,
                    img_shape=image.shape[:2],
                    ori_shape=image.shape[:2]))
        else:
            raise ServingError(f'task {task!r}: an image is a file path or '
                               f'an array, got {type(image).__name__}')
        model = self.model.tasks[task]
        return model.data_preprocessor(pseudo_collate([data]),
                                       False)['inputs'][0]

    @torch.no_grad()
    def __call__(self, images: Sequence[Image],
                 tasks: Sequence[str]) -> List[dict]:
        if len(images) != len(tasks):
            raise ServingError(f'{len(images)} images but {len(tasks)} task '
                               'names: give one task per image')
        self.model.task_index(tasks)  # unknown names refused first
        inputs = [self.preprocess(img, t) for img, t in zip(images, tasks)]
        results = [None] * len(inputs)
        sizes = {}
        for i, x in enumerate(inputs):
            sizes.setdefault(tuple(x.shape), []).append(i)
        for index in sizes.values():
            batch = torch.stack([inputs[i] for i in index]).to(self.device)
            samples = self.model(
                batch, self.model.task_index([tasks[i] for i in index]))
            for i, sample in zip(index, samples):
                results[i] = self._result(tasks[i], sample)
        return results

    def _result(self, task: str, sample) -> dict:
        label = int(sample.pred_label)
        classes = self.model.tasks[task].classes
        return dict(
            task=task,
            pred_label=label,
            pred_class=classes[label] if classes else str(label),
            pred_score=float(sample.pred_score[label]),
            pred_scores=sample.pred_score.cpu().numpy())
