from mmengine.hooks import Hook

from mmprompt.core import count_parameters, unwrap_model
from mmprompt.registry import HOOKS


@HOOKS.register_module()
class TrainableParamsHook(Hook):
    """Log ``trainable params: N (x.xx% of M)`` before training and, with
    ``at the end of training``, after it.

    Parameter-efficient methods are compared by what they tune, so every run
    states it at the top of its log; the second line differs when a method
    changed the model while training (Prompt Condensation).

    The counts also go to the visualizer's scalars (``trainable_params`` and
    ``trainable_params_end``, with ``total_params``), where
    :mod:`mmprompt.evaluation.run_results` reads them: no log parsing.
    """
    priority = 'VERY_LOW'

    @staticmethod
    def _log(runner, when: str, key: str) -> None:
        model = unwrap_model(runner.model)
        trainable, total = count_parameters(model)
        runner.logger.info(
            f'trainable params{when}: {trainable} '
            f'({100. * trainable / max(total, 1):.2f}% of {total})')
        runner.visualizer.add_scalars({
            key: trainable,
            'total_params': total
        },
                                      step=runner.iter)

    def before_train(self, runner) -> None:
        self._log(runner, '', 'trainable_params')

    def after_train(self, runner) -> None:
        self._log(runner, ' at the end of training', 'trainable_params_end')
