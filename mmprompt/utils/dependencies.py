"""What each part of mmprompt needs installed, and one clear error when it
is missing.

Classification (backbones, prompts, losses, hooks, datasets, tools) needs
mmengine, mmpretrain and an mmcv in the supported range, with or without
its compiled ops (``mmcv-lite``, OpenMMLab's wheel without them, is
enough): mmpretrain imports none of them. The dense parts need more:

- segmentation: mmsegmentation (the ``seg`` extra); ``import mmseg.models``
  loads mmcv's compiled ops (focal loss, point sampling);
- detection: mmdetection (the ``det`` extra); its RoI heads and NMS are
  mmcv ops.

mmprompt registers its dense types (``DAVPTEncoderDecoder``,
``SimpleFeaturePyramid``) only where their library imports; elsewhere a
placeholder with the same name raises :class:`MissingDependencyError`
naming the extra, so a config that uses them fails with the fix, not with
"not in the registry". :func:`check_config_dependencies` does the same for a
config file before it is loaded (``mmseg::`` / ``mmdet::`` bases, a dense
``default_scope``).
"""
import importlib
import importlib.util
import os.path as osp
from typing import Optional, Set

from mmengine.config import Config

__all__ = [
    'MMCV_MIN', 'MMCV_MAX', 'DENSE_LIBRARIES', 'MissingDependencyError',
    'check_mmcv_version', 'mmcv_ops_import_error', 'dense_library_error',
    'dense_library_ready', 'require_dense_library', 'config_external_scopes',
    'check_config_dependencies', 'load_config'
]

# mmdet 3.3 and mmseg 1.2.2 refuse mmcv >= 2.2.0; mmpretrain 1.2 needs 2.x.
MMCV_MIN = (2, 0, 0)
MMCV_MAX = (2, 2, 0)  # exclusive
# mmcv with its compiled ops, built from source (mmcv-lite, the wheel
# without ops, installs into the same folder: remove it first)
MMCV_BUILD = ("pip uninstall -y mmcv-lite; pip install 'setuptools<81' "
              "wheel ninja && MMCV_WITH_OPS=1 pip install "
              "--no-build-isolation mmcv==2.1.0")

# scope -> (what it is for, the pip extra, the distribution)
DENSE_LIBRARIES = {
    'mmseg': ('segmentation', 'seg', 'mmsegmentation'),
    'mmdet': ('detection', 'det', 'mmdet'),
}


class MissingDependencyError(ImportError):
    """A part of mmprompt needs a package (or a build of it) that is not
    installed; the message names the fix."""


def _version_tuple(version: str):
    parts = []
    for piece in version.split('+')[0].split('.')[:3]:
        digits = ''.join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts + [0] * (3 - len(parts)))


def _fmt(version) -> str:
    return '.'.join(map(str, version))


def check_mmcv_version(version: Optional[str] = None) -> str:
    """Raise :class:`MissingDependencyError` unless mmcv is installed in
    [``MMCV_MIN``, ``MMCV_MAX``); return its version."""
    if version is None:
        if importlib.util.find_spec('mmcv') is None:
            raise MissingDependencyError(
                'mmprompt needs mmcv >= {}, < {}, which is not installed: '
                "for classification 'pip install mmcv-lite==2.1.0' (no "
                'compiled ops, seconds); segmentation and detection need '
                'mmcv with its ops: {}; or run bash tools/setup_env.sh'.format(
                    _fmt(MMCV_MIN), _fmt(MMCV_MAX), MMCV_BUILD))
        import mmcv  # optional: checked here, imported only once it is
        version = mmcv.__version__
    if not MMCV_MIN <= _version_tuple(version) < MMCV_MAX:
        raise MissingDependencyError(
            f'mmcv=={version} is installed, but mmprompt needs mmcv >= '
            f'{_fmt(MMCV_MIN)}, < {_fmt(MMCV_MAX)} (mmdet 3.3 and mmseg '
            f"1.2.2 refuse 2.2): install 2.1.0 ('pip install "
            f"mmcv-lite==2.1.0' for classification, or with its ops: "
            f'{MMCV_BUILD})')
    return version


def mmcv_ops_import_error() -> Optional[str]:
    """None where mmcv's compiled ops import, else why they do not."""
    try:
        importlib.import_module('mmcv.ops')
    except ImportError as err:  # an mmcv built without ops (MMCV_WITH_OPS=0)
        return f'{type(err).__name__}: {err}'
    return None


def dense_library_error(scope: str, user: str = 'this') -> Optional[str]:
    """None where the dense library ``scope`` ('mmseg' or 'mmdet') and
    mmcv's ops are usable, else the message that names the fix."""
    if scope not in DENSE_LIBRARIES:
        raise ValueError(f'Unknown dense library {scope!r}; choose from '
                         f'{sorted(DENSE_LIBRARIES)}')
    task, extra, dist = DENSE_LIBRARIES[scope]
    if importlib.util.find_spec(scope) is None:
        return (f'{user} needs {dist} ({task}), which is not installed: '
                f"pip install 'mmprompt[{extra}]' (or bash tools/setup_env.sh "
                f'--profile full); {dist} also needs mmcv built with its '
                f'compiled ops ({MMCV_BUILD})')
    ops_error = mmcv_ops_import_error()
    if ops_error is not None:
        import mmcv  # optional: checked here, imported only once it is
        return (f'{user} needs {dist} ({task}), and {dist} needs mmcv\'s '
                f'compiled ops, but mmcv {mmcv.__version__} was built '
                f'without them ({ops_error}): rebuild it with {MMCV_BUILD} '
                f'(or bash tools/setup_env.sh --profile full)')
    return None


def dense_library_ready(scope: str) -> bool:
    return dense_library_error(scope) is None


def require_dense_library(scope: str, user: str = 'this') -> None:
    message = dense_library_error(scope, user)
    if message is not None:
        raise MissingDependencyError(message)


def config_external_scopes(filename: str) -> Set[str]:
    """Scopes of the ``pkg::`` bases a config file inherits, directly or
    through its local bases (read without loading the config, so it works
    where those packages are missing)."""
    scopes, todo, seen = set(), [osp.abspath(filename)], set()
    while todo:
        path = todo.pop()
        if path in seen or not osp.isfile(path):
            continue
        seen.add(path)
        for base in Config._get_base_files(path):
            if '::' in base:
                scopes.add(base.partition('::')[0])
            else:
                todo.append(osp.abspath(osp.join(osp.dirname(path), base)))
    return scopes


def check_config_dependencies(filename: str, cfg=None) -> None:
    """Raise :class:`MissingDependencyError` if config ``filename`` (and,
    once loaded, its ``default_scope``) uses mmseg or mmdet where they or
    mmcv's ops are missing."""
    scopes = config_external_scopes(filename)
    if cfg is not None and cfg.get('default_scope'):
        scopes.add(cfg.get('default_scope'))
    for scope in sorted(scopes & set(DENSE_LIBRARIES)):
        require_dense_library(scope, f'config {filename}')


def load_config(filename: str, **kwargs):
    """``mmengine.Config.fromfile`` after :func:`check_config_dependencies`
    (a dense config where mmseg/mmdet or mmcv's ops are missing fails with
    the fix instead of mmengine's "not installed" or "not in the
    registry")."""
    check_config_dependencies(filename)
    cfg = Config.fromfile(filename, **kwargs)
    check_config_dependencies(filename, cfg)
    return cfg
