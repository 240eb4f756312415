from .class_prompt_mapping_hook import ClassPromptMappingHook
from .prompt_condensation_hook import PromptCondensationHook
from .trainable_params_hook import TrainableParamsHook, count_parameters

__all__ = [
    'ClassPromptMappingHook', 'PromptCondensationHook', 'TrainableParamsHook',
    'count_parameters'
]
