from .prompt_metric_encoder_decoder import (PromptMetricEncoderDecoder,
                                            dominant_label)

__all__ = ['PromptMetricEncoderDecoder', 'dominant_label']
