import os.path as osp

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook

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
    Arguments are ``CheckpointHook``'s; other storage backends (object
    stores write whole objects) take mmengine's path unchanged.
    """

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
