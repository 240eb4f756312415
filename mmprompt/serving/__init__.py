"""One frozen backbone, many tasks: bundles of prompt-tuned tasks served in
one mixed batch."""
from .bundle import (BUNDLE_VERSION, backbone_sha256, frozen_backbone_state,
                     load_bundle, task_entry, write_bundle)
from .inferencer import MultiTaskInferencer, compare_with_task_models
from .multi_task_vit import MultiTaskPromptViT, ServingError, grouped_layer

__all__ = [
    'BUNDLE_VERSION', 'MultiTaskInferencer', 'MultiTaskPromptViT',
    'ServingError', 'backbone_sha256', 'compare_with_task_models',
    'frozen_backbone_state', 'grouped_layer', 'load_bundle', 'task_entry',
    'write_bundle'
]
