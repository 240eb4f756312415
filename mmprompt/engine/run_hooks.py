"""The hooks every mmprompt run needs, in ``default_hooks``.

mmprompt's runtime configs carry them (``configs/_base_/default_runtime.py``
and the dense ``_base_`` configs), so ``Runner.from_cfg(cfg)`` in a user's
own script, mim and ``tools/train.py`` all run with them. They sit in
``default_hooks`` (a dict that config inheritance merges key by key) rather
than in ``custom_hooks`` (a list that a leaf setting its own hooks
replaces). :func:`add_run_hooks` gives them to a config from elsewhere;
``tools/train.py`` calls it.
"""
from mmengine.config import ConfigDict

# default_hooks key -> type
RUN_HOOKS = dict(
    # checkpoints complete under their name, the previous one kept until
    # the next is written
    checkpoint='mmprompt.AtomicCheckpointHook',
    # every rank's RNG states in each checkpoint: --resume is exact
    random_state='mmprompt.RandomStateHook',
    # `trainable params: N (x.xx% of M)` at the top of the log
    trainable_params='mmprompt.TrainableParamsHook',
)
MMENGINE_CHECKPOINT_HOOKS = ('CheckpointHook', 'mmengine.CheckpointHook')


def _type_name(hook) -> str:
    name = hook.get('type', '') if isinstance(hook, dict) else type(hook)
    return name if isinstance(name, str) else name.__name__


def add_run_hooks(cfg) -> None:
    """Add to ``cfg.default_hooks`` those of :data:`RUN_HOOKS` it lacks.

    A hook listed in ``custom_hooks`` or ``default_hooks`` already, under
    any key, is not added again; mmengine's ``CheckpointHook`` (named, or
    the one mmengine adds when the key is absent) becomes
    ``mmprompt.AtomicCheckpointHook`` with the same arguments; a checkpoint
    hook set to None (saving switched off) or of another type stays as it
    is.
    """
    hooks = cfg.get('default_hooks')
    hooks = ConfigDict() if hooks is None else hooks
    present = {
        _type_name(h).split('.')[-1]
        for h in list(cfg.get('custom_hooks') or []) +
        [h for h in hooks.values() if h is not None]
    }
    for key, type_ in RUN_HOOKS.items():
        if key == 'checkpoint':
            if key not in hooks:
                hooks[key] = dict(type=type_, interval=1)  # mmengine's
            elif isinstance(hooks[key], dict) and \
                    hooks[key].get('type') in MMENGINE_CHECKPOINT_HOOKS:
                hooks[key]['type'] = type_
        elif type_.split('.')[-1] not in present:
            hooks[key] = dict(type=type_)
    cfg.default_hooks = hooks
