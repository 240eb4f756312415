from .class_prompt_guidance import (ANCHOR_SOURCES, GUIDED_TAPS,
                                    ClassPromptGuidanceMixin,
                                    guided_anchors_and_proxies)
from .class_prompt_mapping import initial_mapping, update_mapping
from .layer_inputs import prompt_free_layer_inputs
from .model_access import find_prompted_backbone, unwrap_model
from .parameter_count import count_parameters
from .prompt_condensation import (SCORE_METHODS, condensable_backbone,
                                  condense_prompts, kept_positions,
                                  replace_optimizer_params, score_prompts,
                                  select_prompts)
from .prototypes import PROTOTYPE_METHODS, prototype_tokens
from .whitening import (QK_PRODUCTS, WhiteningStatistics,
                        compute_whitening_statistics, qk_matrix,
                        qk_token_product, whitening_matrix)

__all__ = [
    'ANCHOR_SOURCES', 'GUIDED_TAPS', 'ClassPromptGuidanceMixin',
    'guided_anchors_and_proxies', 'initial_mapping', 'update_mapping',
    'count_parameters', 'SCORE_METHODS', 'condense_prompts',
    'find_prompted_backbone', 'kept_positions', 'replace_optimizer_params',
    'score_prompts', 'select_prompts', 'condensable_backbone', 'unwrap_model',
    'prompt_free_layer_inputs', 'PROTOTYPE_METHODS', 'prototype_tokens',
    'QK_PRODUCTS', 'WhiteningStatistics', 'compute_whitening_statistics',
    'qk_matrix', 'qk_token_product', 'whitening_matrix'
]
