import bisect
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from mmprompt.registry import HOOKS
from mmprompt.utils.checkpoint_files import (write_atomically,
                                             write_text_atomically)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` whose checkpoints, on a local disk, are
    complete whenever they exist under their name.

    mmengine writes a checkpoint straight to its final name and, with
    ``max_keep_ckpts``, deletes the oldest one first: a kill mid-write
    leaves a truncated ``epoch_N.pth``, and a full disk with
    ``max_keep_ckpts=1`` leaves no checkpoint at all. Here each checkpoint
    is written to a temporary file and renamed; ``last_checkpoint`` moves
    (also by a rename) only once the new file is complete, and old
    checkpoints are deleted only after that. A failed write raises
    :class:`~mmprompt.utils.checkpoint_files.CheckpointWriteError` and
    leaves the previous checkpoint as the one ``--resume`` takes.

    A checkpoint also waits for its epoch's (or iteration's) validation
    when the train loop validates there. mmengine saves in
    ``after_train_epoch`` and validates afterwards, so a run killed in
    between resumed past an epoch that was never validated (its curve one
    point short). Saved after ``after_val_epoch``, a checkpoint holds the
    finished epoch: trained, validated, logged.

    Arguments are ``CheckpointHook``'s; other storage backends (object
    stores write whole objects) take mmengine's path unchanged.
    """

    def before_train(self, runner):
        super().before_train(runner)
        self._pending = None  # (step, meta) of a save waiting for its val

    def _save_checkpoint(self, runner):
        if self.by_epoch:
            step, meta = runner.epoch + 1, dict(
                epoch=runner.epoch + 1, iter=runner.iter)
        else:
            step, meta = runner.iter + 1, dict(
                epoch=runner.epoch, iter=runner.iter + 1)
        if _validates_after(runner, self.by_epoch, step):
            self._pending = (step, meta)
        else:
            self._save_checkpoint_with_step(runner, step, meta=meta)

    def after_val_epoch(self, runner, metrics):
        pending, self._pending = getattr(self, '_pending', None), None
        if pending is not None:
            self._save_checkpoint_with_step(runner, *pending)
        super().after_val_epoch(runner, metrics)

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        # mmengine's bookkeeping of the kept checkpoints, but the one that
        # falls out is deleted only after the new one is written
        drop = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                drop = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        if not is_main_process():  # Runner.save_checkpoint is master-only
            return

        def save(tmp):
            runner.save_checkpoint(
                osp.dirname(tmp),
                osp.basename(tmp),
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)

        write_atomically(save, self.last_ckpt)
        write_text_atomically(self.last_ckpt,
                              osp.join(runner.work_dir, 'last_checkpoint'))
        if drop is not None:
            old = self.file_backend.join_path(self.out_dir,
                                              self.filename_tmpl.format(drop))
            if self.file_backend.isfile(old):
                self.file_backend.remove(old)
            elif self.file_backend.isdir(old):  # DeepSpeed's folders
                self.file_backend.rmtree(old)


def _validates_after(runner, by_epoch: bool, step: int) -> bool:
    """Whether mmengine's epoch- (``by_epoch``) or iteration-based train
    loop runs validation once it has done ``step`` epochs or iterations:
    the condition of their ``run``. Another loop, or a loop counting in
    other units than the checkpoints: ``False`` (saved at once)."""
    loop = runner.train_loop
    kind = EpochBasedTrainLoop if by_epoch else IterBasedTrainLoop
    if runner.val_loop is None or not isinstance(loop, kind):
        return False
    last = loop.max_epochs if by_epoch else loop.max_iters
    # the loops choose the interval after the step, from step + 1
    interval = loop.dynamic_intervals[
        bisect.bisect(loop.dynamic_milestones, step + 1) - 1]
    return step >= loop.val_begin and (step % interval == 0 or step == last)
