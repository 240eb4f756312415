from .atomic_checkpoint_hook import AtomicCheckpointHook
from .random_state_hook import RandomStateHook
from .train_time_hook import TrainTimeHook
from .trainable_params_hook import TrainableParamsHook

__all__ = [
    'AtomicCheckpointHook', 'RandomStateHook', 'TrainTimeHook',
    'TrainableParamsHook'
]
