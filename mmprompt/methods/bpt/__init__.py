"""BPT: "Attention to the Burstiness in Visual Prompt Tuning" (Bilinear
Prompt Tuning). Prompts ``P = A @ B`` (bilinear) or ``P = A @ W`` with ``W``
the whitening matrix of the layer's ``X W_q W_k^T X^T`` statistics."""
from .bilinear_prompt import BILINEAR_INITS, WHITENING_SUBSETS, BilinearPrompt
from .bilinear_prompt_vit import BPT_VARIANTS, BilinearPromptViT
from .bpt_whitening_hook import BPTWhiteningHook
from .burstiness import (BURSTINESS_QUANTITIES, QUANTITY_LABELS,
                         burstiness_stats, layer_burstiness_values)
from .factored_prompt import FactoredPrompt
from .whitened_prompt import WhitenedPrompt
from .whitening import (QK_PRODUCTS, WhiteningStatistics,
                        compute_whitening_statistics, fit_whitening, qk_matrix,
                        qk_token_product, whitening_matrix)

__all__ = [
    'BILINEAR_INITS', 'WHITENING_SUBSETS', 'BilinearPrompt', 'BPT_VARIANTS',
    'BilinearPromptViT', 'BPTWhiteningHook', 'BURSTINESS_QUANTITIES',
    'QUANTITY_LABELS', 'burstiness_stats', 'layer_burstiness_values',
    'FactoredPrompt', 'WhitenedPrompt', 'QK_PRODUCTS', 'WhiteningStatistics',
    'compute_whitening_statistics', 'fit_whitening', 'qk_matrix',
    'qk_token_product', 'whitening_matrix'
]
