from .fashion_mnist import FashionMNISTSubset, balanced_subset
from .fgvc import FGVC_DATASETS, FGVCDataset
from .samplers import ClassSampledBatchSampler
from .stamp_objects import StampObjects
from .structured_shapes import STRUCTURED_TASKS, StructuredShapes
from .subsets import (ClassBalancedSubset, VTAB1kDraw, class_balanced_subset,
                      vtab1k_draw)
from .vtab1k import VTAB1K_GROUPS, VTAB1K_TASKS, VTAB1kDataset

__all__ = ['FashionMNISTSubset', 'balanced_subset']
__all__ += ['FGVCDataset', 'FGVC_DATASETS']
__all__ += ['VTAB1kDataset', 'VTAB1K_TASKS', 'VTAB1K_GROUPS']
__all__ += ['ClassBalancedSubset', 'class_balanced_subset']
__all__ += ['ClassSampledBatchSampler']
__all__ += ['StructuredShapes', 'STRUCTURED_TASKS', 'VTAB1kDraw']
__all__ += ['vtab1k_draw']
__all__ += ['StampObjects']
