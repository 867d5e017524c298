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
    with atomic_paths(path) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(*paths: PathLike) -> Iterator[list[Path]]:
    """`atomic_path` for files that belong together (an artefact and the sidecar that holds its
    checksum): yield a temporary path for each; once the body has written them all, every one is
    fsync'd and they are renamed onto ``paths`` in order, back to back, and their directories
    fsync'd. If the body raises (a full disk while writing the second file), none is renamed and
    the old files stay as they were. A kill can still fall between two renames (an instant), so a
    reader that needs the files to agree checks them (the sidecar's checksum).
    """
    paths = [Path(p) for p in paths]
    tmps: list[Path] = []
    current = paths[0]
    try:
        for current in paths:
            current.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                dir=current.parent, prefix=f".{current.name}.", suffix=current.suffix, delete=False
            ) as tmp_file:
                tmps.append(Path(tmp_file.name))
            os.chmod(tmps[-1], 0o666 & ~_umask())
    except OSError as e:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        raise StyljaxError(f"{current}: cannot write: {e.strerror or e}") from e
    current = paths[0]  # the file an OSError of the body is reported against
    try:
        yield tmps
        for current, tmp in zip(paths, tmps):
            fsync_path(tmp)  # the data is on disk before the name points at it (a crash never shows an empty file)
        for current, tmp in zip(paths, tmps):
            os.replace(tmp, current)
        for folder in dict.fromkeys(p.parent for p in paths):
            fsync_path(folder)  # and the new names themselves survive a crash
    except BaseException as e:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise StyljaxError(f"{current}: cannot write: {e.strerror or e}") from e
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


