from .fashion_mnist import FashionMNISTSubset, balanced_subset

__all__ = ['FashionMNISTSubset', 'balanced_subset']
