"""Checkpoint files a run can trust: what a file is before anything unpickles
it, which checkpoint a resumed run can start from, and writes that never
leave a partial file under a checkpoint's name.

Every entry point (``tools/train.py`` for ``load_from`` and ``--resume``,
``tools/test.py``, ``tools/export_prompts.py``, the ONNX export) reads
checkpoints through :func:`load_checkpoint_file` or checks them with
:func:`check_checkpoint_file`, so a file that is not a checkpoint gets one
line naming it and what is wrong with it, instead of the error of whichever
reader met it first.
"""
import errno
import glob
import os
import os.path as osp
import pickle
import re
import zipfile
from typing import Callable, List, Optional, Tuple

import torch

from .compat import register_checkpoint_safe_globals

# What other frameworks' files start with; torch cannot read any of them.
FOREIGN_MAGICS = (
    (b'\x89HDF\r\n\x1a\n', 'an HDF5 file (Keras / TensorFlow weights)'),
    (b'\x93NUMPY', 'a NumPy .npy array'),
    (b'GGUF', 'a GGUF file (llama.cpp)'),
)
FOREIGN_EXTENSIONS = {
    '.onnx': 'an ONNX model',
    '.pb': 'a TensorFlow graph',
    '.index': 'a TensorFlow checkpoint index',
    '.safetensors': 'a safetensors file',
    '.npz': 'a NumPy .npz archive',
    '.h5': 'an HDF5 file',
    '.msgpack': 'a Flax msgpack file',
}
CONVERTIBLE = ('.safetensors', '.npz')  # pretrained weights, via init_cfg


class CheckpointFileError(ValueError):
    """A file that cannot be read as a checkpoint; the message is one line
    that names the file and what is wrong with it."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (a full disk, no permission); the
    previous checkpoint is left as it was."""


def _foreign_kind(path: str, head: bytes) -> Optional[str]:
    for magic, kind in FOREIGN_MAGICS:
        if head.startswith(magic):
            return kind
    ext = osp.splitext(path)[1].lower()
    if ext == '.safetensors' or (len(head) > 9 and head[8:9] == b'{'
                                 and head[9:10] == b'"'):
        return 'a safetensors file'
    return FOREIGN_EXTENSIONS.get(ext)


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in '\t\r\n' for c in text)


def check_checkpoint_file(path, what: str = 'checkpoint') -> str:
    """What ``path`` holds, judged from its bytes without unpickling:
    ``'zip'`` (torch's format since 1.6) or ``'legacy'`` (the pickle format
    before it).

    Raises:
        CheckpointFileError: the file is missing, a folder, empty, text,
            a truncated or damaged zip, a zip that is not a torch
            checkpoint, or another framework's format; the message names
            the file and says which.
    """
    path = os.fspath(path)
    if not osp.exists(path):
        raise CheckpointFileError(f'{what} {path}: no such file')
    if osp.isdir(path):
        raise CheckpointFileError(
            f'{what} {path}: a folder, not a checkpoint file')
    size = osp.getsize(path)
    if size == 0:
        raise CheckpointFileError(
            f'{what} {path}: an empty file (0 bytes), not a checkpoint '
            '(was its writing interrupted?)')
    with open(path, 'rb') as f:
        head = f.read(64)
    if head.startswith(b'PK'):
        if not zipfile.is_zipfile(path):
            raise CheckpointFileError(
                f'{what} {path}: a truncated or damaged checkpoint ({size} '
                'bytes; the zip directory at its end is missing)')
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile as e:
            raise CheckpointFileError(
                f'{what} {path}: a damaged zip archive ({e})') from None
        if not any(n.endswith('/data.pkl') for n in names):
            raise CheckpointFileError(
                f'{what} {path}: a zip archive but not a PyTorch checkpoint '
                '(no data.pkl inside)')
        return 'zip'
    foreign = _foreign_kind(path, head)
    if foreign is not None:
        hint = (' (pretrained weights in this format load through the '
                "backbone's init_cfg=dict(type='Pretrained', ...))"
                if osp.splitext(path)[1].lower() in CONVERTIBLE else '')
        raise CheckpointFileError(
            f'{what} {path}: {foreign}, not a PyTorch checkpoint{hint}')
    if head[:1] == b'\x80':  # a pickle protocol opcode: torch's old format
        return 'legacy'
    if _looks_like_text(head):
        raise CheckpointFileError(
            f'{what} {path}: a text file, not a checkpoint (it begins '
            f'{head[:32].decode("utf-8")!r})')
    raise CheckpointFileError(
        f'{what} {path}: not a PyTorch checkpoint (unknown format, first '
        f'bytes {head[:8].hex()})')


def load_checkpoint_file(path,
                         map_location='cpu',
                         what: str = 'checkpoint',
                         mmap: bool = False):
    """``torch.load(path, weights_only=True)`` after
    :func:`check_checkpoint_file`; what the reader itself refuses (a pickle
    cut short, a type outside the allow-list) is reported the same way.
    ``mmap`` maps a zip checkpoint instead of reading it (cheap: only what
    is used is read)."""
    kind = check_checkpoint_file(path, what)
    register_checkpoint_safe_globals()
    try:
        return torch.load(
            path,
            map_location=map_location,
            weights_only=True,
            mmap=mmap and kind == 'zip')
    except (RuntimeError, EOFError, pickle.UnpicklingError,
            zipfile.BadZipFile) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else \
            type(e).__name__
        raise CheckpointFileError(
            f'{what} {path}: cannot be read as a PyTorch checkpoint '
            f'({reason})') from None


# ------------------------------------------------------------------ resume
def _step_of(path: str) -> Tuple[bool, int, float]:
    """Order of checkpoints in a work dir: mmengine's names first
    (``epoch_7.pth``, ``iter_400.pth``) by their number, then the time of
    writing."""
    match = re.fullmatch(r'(?:epoch|iter)_(\d+)\.pth', osp.basename(path))
    return (match is not None, int(match.group(1)) if match else -1,
            osp.getmtime(path))


Log = Callable[[str], None]


def is_run_checkpoint(checkpoint) -> bool:
    """Whether a loaded file is a checkpoint a run can resume from: what
    mmengine's runner saves, a ``state_dict`` and a ``meta`` with the
    epoch or iteration (not, say, a dump of some tensors)."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    return isinstance(
        meta, dict) and 'state_dict' in checkpoint and ('epoch' in meta
                                                        or 'iter' in meta)


def find_resumable_checkpoint(work_dir: str,
                              log: Log = print) -> Optional[str]:
    """The newest checkpoint of ``work_dir`` that loads.

    The file ``last_checkpoint`` names comes first, then the other
    ``*.pth`` files of the folder (not ``best_*``), newest first. A file
    that fails :func:`load_checkpoint_file` (memory-mapped, so checking
    costs little) is skipped with one line through ``log`` naming it and
    why; other ``*.pth`` files that load but are no run's checkpoint
    (:func:`is_run_checkpoint`) are passed over quietly. None when no
    checkpoint loads.
    """
    candidates: List[str] = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    named = None
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip() or None
        if named:
            candidates.append(named)
    others = sorted(
        (p for p in glob.glob(osp.join(glob.escape(work_dir), '*.pth'))
         if not osp.basename(p).startswith('best_')),
        key=_step_of,
        reverse=True)
    candidates += [
        p for p in others
        if not any(osp.abspath(p) == osp.abspath(c) for c in candidates)
    ]

    skipped = False
    for path in candidates:
        try:
            checkpoint = load_checkpoint_file(path, mmap=True)
        except CheckpointFileError as e:
            log(f'resume: skipping {e}')
            skipped = True
            continue
        if is_run_checkpoint(checkpoint):
            if skipped:
                log(f'resume: resuming from {path}')
            return path
        if path == named:
            log(f'resume: skipping checkpoint {path}: not the checkpoint of '
                'a run (no meta with its epoch or iteration, or no '
                'state_dict)')
            skipped = True
    if skipped:
        log(f'resume: no checkpoint of {work_dir} loads')
    return None


def choose_start_checkpoint(cfg, resume_auto: bool, log: Log = print) -> None:
    """Settle ``cfg.load_from`` / ``cfg.resume`` before a runner is built.

    ``resume_auto`` (``--resume`` without a path): the newest checkpoint of
    ``cfg.work_dir`` that loads (:func:`find_resumable_checkpoint`), or a
    fresh start when the folder has none. A named file (``load_from``, or
    ``--resume PATH``) must pass :func:`check_checkpoint_file`.

    Raises:
        CheckpointFileError: the named file is not a readable checkpoint,
            or the work dir's ``last_checkpoint`` names one but no
            checkpoint there loads.
    """
    if resume_auto:
        found = find_resumable_checkpoint(cfg.work_dir, log)
        if found is None and osp.isfile(
                osp.join(cfg.work_dir, 'last_checkpoint')):
            raise CheckpointFileError(
                f'--resume: no checkpoint in {cfg.work_dir} loads')
        cfg.load_from = found
        cfg.resume = found is not None
    elif cfg.get('load_from'):
        check_checkpoint_file(cfg.load_from,
                              '--resume' if cfg.get('resume') else 'load_from')


# ------------------------------------------------------------------ writes
def write_atomically(write: Callable[[str], None], path: str) -> None:
    """Call ``write(tmp)`` for a temporary file beside ``path``, then
    rename it to ``path``: a kill or a full disk leaves either the old file
    or the complete new one under that name, never a part of one.

    Raises:
        CheckpointWriteError: writing failed (the temporary file is
            removed; ``path`` is untouched).
    """
    folder = osp.dirname(osp.abspath(path))
    tmp = osp.join(folder, f'.{osp.basename(path)}.tmp-{os.getpid()}')
    try:
        write(tmp)
        with open(tmp, 'rb') as f:  # on disk before the rename
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if osp.exists(tmp):
            os.remove(tmp)
        reason = 'the disk is full' if e.errno == errno.ENOSPC else \
            (e.strerror or str(e))
        raise CheckpointWriteError(e.errno,
                                   f'cannot write {path}: {reason}') from None


def write_text_atomically(text: str, path: str) -> None:

    def write(tmp):
        with open(tmp, 'w') as f:
            f.write(text)

    write_atomically(write, path)
