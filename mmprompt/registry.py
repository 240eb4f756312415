"""Registries of mmprompt.

Each registry is a child of MMEngine's root registry with the scope
``mmprompt`` (the pattern of mmrazor and mmyolo). A config of any downstream
library (mmpretrain, mmseg, mmdet) reaches our classes with the scope prefix,
e.g. ``dict(type='mmprompt.PromptViT')``, after importing the package through
``custom_imports=dict(imports=['mmprompt'], allow_failed_imports=False)``.

There is no metric registry: every config evaluates with mmpretrain's,
mmseg's or mmdet's own metrics. Each ``locations`` entry is a module that
exists (a test imports them all).
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

__all__ = [
    'MODELS', 'HOOKS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS',
    'PARAM_SCHEDULERS', 'WEIGHT_INITIALIZERS'
]

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='mmprompt',
    locations=['mmprompt.core', 'mmprompt.methods', 'mmprompt.models'])
HOOKS = Registry(
    'hook',
    parent=MMENGINE_HOOKS,
    scope='mmprompt',
    locations=['mmprompt.engine', 'mmprompt.methods'])
DATASETS = Registry(
    'dataset',
    parent=MMENGINE_DATASETS,
    scope='mmprompt',
    locations=['mmprompt.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler',
    parent=MMENGINE_DATA_SAMPLERS,
    scope='mmprompt',
    locations=['mmprompt.datasets'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMENGINE_PARAM_SCHEDULERS,
    scope='mmprompt',
    locations=['mmprompt.engine'])
TRANSFORMS = Registry(
    'transform',
    parent=MMENGINE_TRANSFORMS,
    scope='mmprompt',
    locations=['mmprompt.datasets'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=MMENGINE_WEIGHT_INITIALIZERS,
    scope='mmprompt',
    locations=['mmprompt.core', 'mmprompt.methods', 'mmprompt.models'])

# Types renamed to their papers' names (old -> new). The old names stay
# registered as placeholders whose construction names the new one, so an
# older config fails with the fix rather than "not in the registry".
RENAMED_TYPES = {
    'PromptMetricLoss': 'DAVPTLoss',
    'PromptMetricClassifier': 'DAVPTClassifier',
    'PromptMetricEncoderDecoder': 'DAVPTEncoderDecoder',
    'ClassPromptMappingHook': 'DAVPTMappingHook',
    'PrototypePromptInitHook': 'SPTInitHook',
    'PromptWhiteningHook': 'BPTWhiteningHook',
}
