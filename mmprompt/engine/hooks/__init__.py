from .atomic_checkpoint_hook import AtomicCheckpointHook
from .random_state_hook import RandomStateHook
from .trainable_params_hook import TrainableParamsHook

__all__ = ['AtomicCheckpointHook', 'RandomStateHook', 'TrainableParamsHook']
