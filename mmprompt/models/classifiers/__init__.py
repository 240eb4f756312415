from .prompt_metric_classifier import ANCHOR_SOURCES, PromptMetricClassifier

__all__ = ['ANCHOR_SOURCES', 'PromptMetricClassifier']
