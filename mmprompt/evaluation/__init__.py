"""Measuring: timings compared by paired rounds, with intervals."""
from .timing import peak_allocated, ratio_interval, round_order

__all__ = ['peak_allocated', 'ratio_interval', 'round_order']
