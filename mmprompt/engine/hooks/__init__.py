from .atomic_checkpoint_hook import AtomicCheckpointHook
from .class_prompt_mapping_hook import ClassPromptMappingHook
from .prompt_condensation_hook import PromptCondensationHook
from .prompt_whitening_hook import PromptWhiteningHook
from .prototype_prompt_init_hook import (PrototypePromptInitHook,
                                         collect_patch_tokens)
from .random_state_hook import RandomStateHook
from .trainable_params_hook import TrainableParamsHook, count_parameters

__all__ = [
    'AtomicCheckpointHook', 'ClassPromptMappingHook', 'PromptCondensationHook',
    'PromptWhiteningHook', 'PrototypePromptInitHook', 'RandomStateHook',
    'TrainableParamsHook', 'collect_patch_tokens', 'count_parameters'
]
