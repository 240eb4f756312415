"""Diagnostics of prompted ViTs (no registered types, nothing training
needs): complexity (FLOPs, latency), attention rank and BPT's burstiness
statistics.

- :mod:`.complexity`, :mod:`.attention_rank`: see those modules.
- :mod:`.burstiness`: kurtosis / tails of ``W_q W_k^T``, ``X``, ``M``.

What training computes from data (BPT's whitening, SPT's prototypes, the
prompt-free layer inputs both read) lives in :mod:`mmprompt.models.utils`.
"""
from .burstiness import (BURSTINESS_QUANTITIES, QUANTITY_LABELS,
                         burstiness_stats, layer_burstiness_values)

__all__ = [
    'BURSTINESS_QUANTITIES', 'QUANTITY_LABELS', 'burstiness_stats',
    'layer_burstiness_values'
]
