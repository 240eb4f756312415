from mmprompt.registry import HOOKS, MODELS, RENAMED_TYPES
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


class RenamedTypeError(KeyError):
    """A config names a type by its name before the papers' names."""

    def __str__(self):
        return str(self.args[0])


def register_renamed() -> None:
    """Register each old name of :data:`~mmprompt.registry.RENAMED_TYPES`
    as a placeholder whose construction names the new type."""
    for old, new in RENAMED_TYPES.items():
        registry = HOOKS if new.endswith('Hook') else MODELS

        def build(*args, _old=old, _new=new, **kwargs):
            raise RenamedTypeError(
                f"type='mmprompt.{_old}' was renamed to its paper's name: "
                f"write type='mmprompt.{_new}' (same arguments)")

        build.__name__ = old
        registry.register_module(name=old, module=build)
