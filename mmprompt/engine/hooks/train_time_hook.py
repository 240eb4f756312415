import time

from mmengine.hooks import Hook

from mmprompt.registry import HOOKS


@HOOKS.register_module()
class TrainTimeHook(Hook):
    """Wall-clock seconds of training (validation included), summed over
    resumes, in the message hub's runtime info ``train_seconds``.

    The message hub goes into each checkpoint, so a resumed run starts from
    the time its checkpoint had taken, and a run interrupted and resumed
    reports about what it would have taken in one go (the part of an epoch
    lost to the interruption is not counted). The claims study reads it for
    the minutes per run; ``runner.message_hub.get_info('train_seconds')``.
    """
    priority = 'VERY_HIGH'  # before the checkpoint hook (VERY_LOW) saves

    def before_train(self, runner) -> None:
        # after load_or_resume: a resumed run's hub holds the time so far
        done = runner.message_hub.get_info('train_seconds', 0.)
        self._start = time.perf_counter() - done

    def _update(self, runner) -> None:
        runner.message_hub.update_info('train_seconds',
                                       time.perf_counter() - self._start)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        self._update(runner)

    def after_train_epoch(self, runner) -> None:
        self._update(runner)

    def after_val_epoch(self, runner, metrics=None) -> None:
        if hasattr(self, '_start'):  # not a runner.val() of its own
            self._update(runner)

    def after_train(self, runner) -> None:
        self._update(runner)
