import math

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler

from mmprompt.registry import PARAM_SCHEDULERS


class WarmupCosineParamScheduler(_ParamScheduler):
    """Linear warm-up, then a cosine over the whole run, in closed form.

    For step ``t`` (from 0): ``warmup_value + t (base - warmup_value) /
    warmup`` while ``t < warmup``, then ``eta_min + (base - eta_min)
    (1 + cos(pi t / total)) / 2`` (``t`` counted from the start of
    training, not from the end of the warm-up), and ``eta_min`` from
    ``total`` on. This is timm's ``CosineLRScheduler`` with one cycle and
    ``warmup_prefix=False`` (the schedule of the released DA-VPT code,
    stepped per update with ``sched_on_updates``): at the end of the
    warm-up the value is already a little below ``base``. mmengine's
    ``LinearLR`` + ``CosineAnnealingLR`` restart the cosine at ``base``.

    Args:
        optimizer: Wrapped optimizer.
        param_name (str): The parameter scheduled.
        warmup (int): Warm-up steps (epochs with ``by_epoch``).
        total (int): Length of the cosine, from step 0 (epochs with
            ``by_epoch``), > ``warmup``.
        warmup_value (float): Value at step 0 (timm's ``warmup_lr``).
        eta_min (float): Final value (timm's ``min_lr``). Defaults to 0.
        begin, end, last_step, by_epoch, verbose: As in mmengine's
            schedulers; ``convert_to_iter_based=True`` scales ``warmup``
            and ``total`` by the epoch length too.
    """

    def __init__(self,
                 optimizer,
                 param_name: str,
                 warmup: int,
                 total: int,
                 warmup_value: float,
                 eta_min: float = 0.,
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False):
        if not 0 <= warmup < total:
            raise ValueError(f'need 0 <= warmup < total, got warmup='
                             f'{warmup!r}, total={total!r}')
        self.warmup = warmup
        self.total = total
        self.warmup_value = warmup_value
        self.eta_min = eta_min
        super().__init__(
            optimizer,
            param_name=param_name,
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls,
                              *args,
                              warmup,
                              total,
                              begin=0,
                              end=INF,
                              by_epoch=True,
                              epoch_length=None,
                              **kwargs):
        """The iteration-based scheduler of an epoch-based config."""
        if not by_epoch or not epoch_length:
            raise ValueError('convert_to_iter_based needs by_epoch=True and '
                             f'an epoch length, got by_epoch={by_epoch!r}, '
                             f'epoch_length={epoch_length!r}')
        return cls(
            *args,
            warmup=int(warmup * epoch_length),
            total=int(total * epoch_length),
            begin=int(begin * epoch_length),
            end=end if end == INF else int(end * epoch_length),
            by_epoch=False,
            **kwargs)

    def value_at(self, t: int, base: float) -> float:
        if t < self.warmup:
            return self.warmup_value + t * (base - self.warmup_value) / \
                self.warmup
        if t >= self.total:
            return self.eta_min
        return self.eta_min + 0.5 * (base - self.eta_min) * (
            1 + math.cos(math.pi * t / self.total))

    def _get_value(self):
        return [
            self.value_at(self.last_step, base) for base in self.base_values
        ]


@PARAM_SCHEDULERS.register_module()
class WarmupCosineLR(LRSchedulerMixin, WarmupCosineParamScheduler):
    """:class:`WarmupCosineParamScheduler` of the learning rate, e.g. the
    released DA-VPT schedule (lr 5e-3, ``warmup_lr`` 1e-8, ``min_lr``
    1e-9, 10 warm-up epochs of 100, per iteration)::

        param_scheduler = dict(
            type='mmprompt.WarmupCosineLR', warmup=10, total=100,
            warmup_value=1e-8, eta_min=1e-9, by_epoch=True,
            convert_to_iter_based=True)
    """
