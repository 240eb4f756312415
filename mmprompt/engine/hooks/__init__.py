from .prompt_condensation_hook import PromptCondensationHook
from .trainable_params_hook import TrainableParamsHook, count_parameters

__all__ = [
    'PromptCondensationHook', 'TrainableParamsHook', 'count_parameters'
]
