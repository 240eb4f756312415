from .trainable_params_hook import TrainableParamsHook, count_parameters

__all__ = ['TrainableParamsHook', 'count_parameters']
