"""Build a config's model outside a Runner, as the Runner builds it."""
import copy

import torch.nn as nn
from mmengine.registry import MODELS


def build_model(cfg, model_cfg=None) -> nn.Module:
    """The model of ``cfg`` as mmengine's ``Runner`` builds it.

    OpenMMLab configs (mmpretrain's dataset bases among them) set the
    normalisation as a top-level ``data_preprocessor``, which the Runner
    merges into ``model`` unless the model sets its own. A tool that builds
    ``cfg.model`` alone gets the default preprocessor instead: images
    neither normalised nor channel-swapped, so scores, statistics and
    accuracies computed on them are not the trained model's. Every tool
    that runs a model on data outside a Runner builds it here. Registries
    resolve in the current default scope (``init_default_scope`` first).

    Args:
        cfg (Config): the whole config.
        model_cfg (dict, optional): a changed copy of ``cfg.model`` to build
            instead (e.g. another prompt count).
    """
    model_cfg = copy.deepcopy(cfg.model if model_cfg is None else model_cfg)
    preprocessor = cfg.get('data_preprocessor')
    if isinstance(model_cfg, dict) and preprocessor is not None:
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(preprocessor))
    return MODELS.build(model_cfg)
