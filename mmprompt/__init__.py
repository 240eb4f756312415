# an mmcv outside the supported range fails here, naming the fix, before
# mmpretrain's own import of it
from .utils.dependencies import check_mmcv_version  # noqa: E402
from .version import __version__  # noqa: F401

check_mmcv_version()

# before mmpretrain imports it: mmcv-lite's notice of a missing compiled op
from .utils.quiet_log import import_mmcv_bricks_quietly  # noqa: E402

import_mmcv_bricks_quietly()

# Registered classes are imported so that ``custom_imports=['mmprompt']``
# makes every ``mmprompt.*`` type of a config available.
from . import core, datasets, engine, methods, models  # noqa: F401,E402
# torch >= 2.6 loads checkpoints with weights_only=True; allow-list exactly
# the types mmengine writes so --resume and load_from work with it on.
from .utils.compat import register_checkpoint_safe_globals  # noqa: E402

register_checkpoint_safe_globals()
