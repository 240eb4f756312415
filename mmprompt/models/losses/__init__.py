from .prompt_metric_loss import PromptMetricLoss

__all__ = ['PromptMetricLoss']
