"""Keep mmengine's log to what a user of a frozen backbone can act on.

A prompt-tuning run freezes hundreds of parameters, and mmengine's default
optimizer constructor logs one WARNING per frozen parameter when a config
has a ``paramwise_cfg`` (348 lines for a ViT-B); its ``CheckpointHook``
warns on every start that ``FileClient`` and ``HardDiskBackend`` will be
deprecated (legacy calls it makes itself, whatever the config). None of it
is something the user did or can change; the trainable-parameter line of
:class:`mmprompt.TrainableParamsHook` says what the first ones meant. Only
these exact messages are dropped: every other warning stays.

mmcv-lite (the light profile's mmcv, without compiled ops) warns at every
start that ``MultiScaleDeformableAttention`` is missing, when mmpretrain
imports ``mmcv.cnn.bricks.transformer``. Classification never uses it, and
mmprompt's dense parts check for mmcv's ops themselves, with an error that
names the fix; :func:`import_mmcv_bricks_quietly` imports that module once
with exactly that warning ignored, before anything else imports it.
"""
import importlib
import logging
import warnings

# (message start, message end) of each known line
KNOWN_NOISE = (
    # mmengine.optim.DefaultOptimWrapperConstructor.add_params, per
    # frozen parameter
    ('', 'is skipped since its requires_grad=False'),
    # mmengine.hooks.CheckpointHook.before_train's legacy FileClient
    ('"FileClient" will be deprecated in future.', ''),
    ('"HardDiskBackend" is the alias of "LocalBackend"', ''),
)


class KnownNoiseFilter(logging.Filter):
    """Drops the log records listed in :data:`KNOWN_NOISE`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(
            message.startswith(start) and message.endswith(end)
            for start, end in KNOWN_NOISE)


def quiet(logger: logging.Logger) -> logging.Logger:
    """Add :class:`KnownNoiseFilter` to ``logger`` (once)."""
    if not any(isinstance(f, KnownNoiseFilter) for f in logger.filters):
        logger.addFilter(KnownNoiseFilter())
    return logger


MMCV_LITE_NOTICE = 'Fail to import ``MultiScaleDeformableAttention``'


def import_mmcv_bricks_quietly() -> None:
    """Import ``mmcv.cnn.bricks.transformer`` without mmcv-lite's notice
    that its compiled deformable attention is missing (nothing else is
    silenced; with mmcv's ops there is no notice)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            'ignore', message=MMCV_LITE_NOTICE, category=UserWarning)
        importlib.import_module('mmcv.cnn.bricks.transformer')
