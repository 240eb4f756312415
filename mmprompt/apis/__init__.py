from .test import merge_test_args, test
from .train import merge_train_args, train

__all__ = ['merge_train_args', 'train', 'merge_test_args', 'test']
