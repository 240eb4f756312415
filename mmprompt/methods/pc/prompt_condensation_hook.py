from itertools import islice
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper

from mmprompt.registry import HOOKS
from .condensation import (SCORE_METHODS, condensable_backbone,
                           condense_prompts, kept_positions, score_prompts,
                           select_prompts, unwrap_model)


@HOOKS.register_module()
class PromptCondensationHook(Hook):
    """Prompt Condensation during training: score, keep the best, go on.

    At the start of epoch ``at_epoch`` (after that many epochs of training)
    or of iteration ``at_iter``, every prompt token is scored on
    ``num_batches`` training batches, the top ``keep_ratio`` of all tokens
    are kept globally across layers (at least ``min_per_layer`` each), the
    others are removed from the model, and training goes on with exactly the
    kept prompts: the optimizer's per-row state (Adam moments, momentum) of
    kept tokens is kept, that of removed tokens dropped, and a DDP wrapper
    is rebuilt around the new parameters.

    Which tokens were kept lives in the model (the generators' ``kept_index``
    buffers), so checkpoints carry it. Loading a condensed checkpoint
    (``--resume``, ``load_from``, ``tools/test.py``) into a run of the same
    config condenses the fresh model to it first; condensation then does not
    run again.

    Args:
        keep_ratio (float): Share of all prompt tokens to keep, in (0, 1].
            Defaults to 0.3.
        min_per_layer (int): Tokens every prompted layer keeps at least.
            Defaults to 0.
        score (str): ``'taylor'`` (|sum p * dL/dp|) or ``'magnitude'``.
        num_batches (int): Training batches scored per rank. Defaults to 10.
        at_epoch (int, optional): Condense before this epoch (0-based).
        at_iter (int, optional): Condense before this iteration (for
            iteration-based loops). Exactly one of the two is given.
        keep_layers (Sequence[int]): Prompted layers kept whole (they count
            against the budget), e.g. ``[-1]`` for DA-VPT's guided layer,
            whose prompts its class-to-prompt mapping indexes. Defaults to
            ().
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 keep_ratio: float = 0.3,
                 min_per_layer: int = 0,
                 score: str = 'taylor',
                 num_batches: int = 10,
                 at_epoch: Optional[int] = None,
                 at_iter: Optional[int] = None,
                 keep_layers: Sequence[int] = ()):
        if not (isinstance(keep_ratio, (int, float)) and 0 < keep_ratio <= 1):
            raise ValueError(
                f'keep_ratio must be in (0, 1], got {keep_ratio!r}')
        if not isinstance(min_per_layer, int) or min_per_layer < 0:
            raise ValueError(
                f'min_per_layer must be an int >= 0, got {min_per_layer!r}')
        if score not in SCORE_METHODS:
            raise ValueError(f'Unknown score {score!r}; choose from '
                             f'{SCORE_METHODS}')
        if not isinstance(num_batches, int) or num_batches <= 0:
            raise ValueError(
                f'num_batches must be an int > 0, got {num_batches!r}')
        if (at_epoch is None) == (at_iter is None):
            raise ValueError('Give exactly one of at_epoch and at_iter, got '
                             f'at_epoch={at_epoch!r}, at_iter={at_iter!r}')
        for name, value in (('at_epoch', at_epoch), ('at_iter', at_iter)):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f'{name} must be an int >= 0, got {value!r}')
        self.keep_ratio = keep_ratio
        self.min_per_layer = min_per_layer
        self.keep_layers = tuple(keep_layers)
        self.score = score
        self.num_batches = num_batches
        self.at_epoch = at_epoch
        self.at_iter = at_iter

    # ------------------------------------------------------------------
    @staticmethod
    def _is_condensed(backbone) -> bool:
        return any(g.kept_index is not None for g in backbone.prompts)

    def before_run(self, runner) -> None:
        # Fails at start-up, not at the condensation epoch, for a model
        # without prompts.
        condensable_backbone(runner.model)

    def before_train_epoch(self, runner) -> None:
        if self.at_epoch is not None and runner.epoch == self.at_epoch:
            self._condense(runner)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        if self.at_iter is not None and runner.iter == self.at_iter:
            self._condense(runner)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Condense the model to a condensed checkpoint before its weights
        (and its optimizer state, on resume) are loaded."""
        name, backbone = condensable_backbone(runner.model)
        prefix = f'{name}.' if name else ''
        keep = kept_positions(backbone, checkpoint.get('state_dict', {}),
                              prefix)
        if keep is None:
            return
        self._apply(runner, keep)
        runner.logger.info(
            'Condensed the model to the checkpoint\'s kept prompts: '
            f'num_prompts={backbone.num_prompts}')

    # ------------------------------------------------------------------
    def _condense(self, runner) -> None:
        _, backbone = condensable_backbone(runner.model)
        if self._is_condensed(backbone):
            runner.logger.info('Prompts are already condensed '
                               f'(num_prompts={backbone.num_prompts})')
            return
        before = list(backbone.num_prompts)
        batches = islice(iter(runner.train_dataloader), self.num_batches)
        scores = score_prompts(runner.model, batches, self.score)
        keep = select_prompts(scores, self.keep_ratio, self.min_per_layer,
                              self.keep_layers)
        self._apply(runner, keep)
        runner.logger.info(
            f'Prompt condensation ({self.score}, keep_ratio='
            f'{self.keep_ratio}): {sum(before)} -> '
            f'{sum(backbone.num_prompts)} prompt tokens, per layer '
            f'{before} -> {backbone.num_prompts}')

    def _apply(self, runner, keep) -> None:
        optim_wrapper = runner.optim_wrapper
        optimizer = optim_wrapper.optimizer if isinstance(
            optim_wrapper, OptimWrapper) else None
        condense_prompts(runner.model, keep, optimizer)
        if unwrap_model(runner.model) is not runner.model:
            # DDP registered its gradient hooks on the removed parameters.
            runner.model = runner.wrap_model(
                runner.cfg.get('model_wrapper_cfg'),
                unwrap_model(runner.model))
