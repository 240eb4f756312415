from .version import __version__  # noqa: F401

# Registered classes are imported so that ``custom_imports=['mmprompt']``
# makes every ``mmprompt.*`` type of a config available.
from . import datasets, engine, models  # noqa: F401,E402
