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


def compare_with_task_models(inferencer: MultiTaskInferencer,
                             models: dict,
                             samples: Sequence[tuple],
                             batch_size: int = 32) -> dict:
    """Per task, the bundle's accuracy on mixed batches against the task's
    own model on the same images.

    Args:
        inferencer: the bundle's inferencer.
        models (dict): task -> its own classifier (config and checkpoint).
        samples: ``(task, image, label)`` in the order they are served;
            the bundle takes them ``batch_size`` at a time, whatever their
            tasks.

    Returns:
        dict: task -> ``n``, ``bundle_top1``, ``own_top1`` (%), ``agree``
        (images with the same prediction) and ``max_score_diff``.
    """
    out = {t: dict(n=0, bundle=0, own=0, agree=0, diff=0.) for t in models}
    for start in range(0, len(samples), batch_size):
        chunk = samples[start:start + batch_size]
        served = inferencer([s[1] for s in chunk], [s[0] for s in chunk])
        for (task, image, label), r in zip(chunk, served):
            x = inferencer.preprocess(image, task).unsqueeze(0)
            with torch.no_grad():
                own = models[task].predict(x)[0].pred_score
            row = out[task]
            row['n'] += 1
            row['bundle'] += int(r['pred_label'] == label)
            row['own'] += int(int(own.argmax()) == label)
            row['agree'] += int(int(own.argmax()) == r['pred_label'])
            row['diff'] = max(
                row['diff'],
                float((torch.from_numpy(r['pred_scores']) -
                       own.cpu()).abs().max()))
    return {
        t:
        dict(
            n=r['n'],
            bundle_top1=100. * r['bundle'] / max(r['n'], 1),
            own_top1=100. * r['own'] / max(r['n'], 1),
            agree=r['agree'],
            max_score_diff=r['diff'])
        for t, r in out.items()
    }
