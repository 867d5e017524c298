"""Atomic file writes: a temporary file in the target folder, fsynced, then renamed over the target."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from styljax.errors import StyljaxError

PathLike = str | os.PathLike[str]


@functools.cache
def _umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # fallback: briefly set and restore (not thread-safe)
    os.umask(mask)
    return mask


def fsync_path(path: PathLike) -> None:
    """fsync a file or a directory by name (a directory's fsync makes the renames in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``.

    Parent directories are created. The temporary file is hidden ('.name.XXXX.suffix'),
    keeps the target's suffix (so writers that infer the format from it work) and gets the
    usual umask-derived permissions; it is fsync'd before the rename and the directory after, so
    neither a killed process nor a crash leaves a partial file under ``path``. If the body raises, the temporary file is removed,
    ``path`` is left untouched and the exception propagates; an OSError (from creating the
    temporary file, the body or the rename) becomes a StyljaxError naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix, delete=False
        ) as tmp_file:
            tmp = Path(tmp_file.name)
        os.chmod(tmp, 0o666 & ~_umask())
    except OSError as e:
        raise StyljaxError(f"{path}: cannot write: {e.strerror or e}") from e
    try:
        yield tmp
        fsync_path(tmp)  # the data is on disk before the name points at it (a crash never shows an empty file)
        os.replace(tmp, path)
        fsync_path(path.parent)  # and the new name itself survives a crash
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise StyljaxError(f"{path}: cannot write: {e.strerror or e}") from e
        raise


def atomic_write(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the Path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------


