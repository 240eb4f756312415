from mmprompt.registry import MODELS
from mmprompt.utils.dependencies import require_dense_library


def register_unavailable(name: str, scope: str) -> None:
    """Register under ``name`` a placeholder whose construction raises
    :class:`~mmprompt.utils.dependencies.MissingDependencyError` naming
    what ``scope`` ('mmseg' or 'mmdet') needs: a config that uses the
    dense type gets the fix instead of "not in the registry"."""

    def build(*args, **kwargs):
        require_dense_library(scope, f'mmprompt.{name}')
        raise RuntimeError(  # the library became usable after import
            f'mmprompt.{name} was not registered because {scope} was not '
            'usable when mmprompt was imported; import mmprompt again in '
            'a new process')

    build.__name__ = name
    MODELS.register_module(name=name, module=build)
