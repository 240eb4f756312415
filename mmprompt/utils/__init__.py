from .compat import register_checkpoint_safe_globals  # noqa: F401
from .model_builder import build_model  # noqa: F401
