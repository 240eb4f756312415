from ..utils.checkpoint_files import CheckpointFileError  # noqa: F401
from ..utils.checkpoint_files import (CheckpointWriteError,
                                      check_checkpoint_file,
                                      choose_start_checkpoint,
                                      find_resumable_checkpoint,
                                      load_checkpoint_file)
from .hooks import *  # noqa: F401,F403
from .run_hooks import RUN_HOOKS, add_run_hooks
from .schedulers import *  # noqa: F401,F403
