"""Atomic, durable file writes: a temp file in the target folder, fsynced, then ``os.replace`` and an fsync of the
folder, so a killed job (or a power cut after the write returned) never leaves half a file or loses the rename.

A failed write raises :class:`OSError` naming the target path (``exc.filename``) and the reason (``exc.strerror``:
no space left on device, read-only file system, permission denied ...); the old file, if any, is left as it was and
no temp file remains. ``reid`` prints it as one line (``Error: <path>: <reason>``, exit 1).
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, NoReturn


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_folder(folder: str | Path) -> None:
    """Make a rename or a new entry in ``folder`` durable; silently nothing where the OS cannot fsync a folder."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except OSError:
        return  # e.g. Windows: folders cannot be opened
    try:
        os.fsync(fd)
    except OSError:
        pass  # EINVAL / EBADF / ENOTSUP: this file system or OS does not fsync folders
    finally:
        os.close(fd)


def make_folder(folder: str | Path) -> Path:
    """``mkdir -p folder``, each new folder made durable (fsync of its parent); a file in the way is
    ``NotADirectoryError`` naming that file (not "File exists")."""
    folder = Path(folder)
    if folder.is_dir():
        return folder
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", str(blocking)) from exc
    for new in reversed(created):
        fsync_folder(new.parent)
    return folder


def _named(exc: OSError, path: Path) -> OSError:
    """``exc`` with ``path`` as its filename when it has none (a failed ``write()`` carries no filename)."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))


def _reraise_named(exc: OSError, path: Path) -> NoReturn:
    named = _named(exc, path)
    if named is exc:
        raise exc
    raise named from exc


def write_atomic(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a temp file beside ``path`` and move it into place once complete and on disk."""
    path = Path(path)
    make_folder(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # named after the file we were asked to write, not the temp file
        raise type(exc)(exc.errno, exc.strerror or str(exc), str(path)) from exc
    try:
        os.fchmod(fd, _default_mode())  # mkstemp creates 0600; the result should look like any file we write
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            _reraise_named(exc, path)
        raise
    fsync_folder(path.parent)
    return path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    return write_atomic(path, lambda f: f.write(data))


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")
