"""JAX's persistent compilation cache, kept in the styljax cache directory.

`enable()` points JAX at `<styljax cache>/jax` (`$STYLJAX_CACHE`, else `$XDG_CACHE_HOME/styljax`,
else `~/.cache/styljax`: the directory `styljax weights fetch` fills, see
`styljax.io.weights.cache_dir`) and caches every compilation, however quick or small: on a CPU most
of a short command's time is XLA compiling, and JAX's defaults (only compilations of 1 s or more)
would keep most of it out of the cache. A second run of the same command then loads its
executables instead of compiling them. The cache is keyed by the program, the JAX/XLA version,
the device and the XLA flags; deleting the directory is always safe. `STYLJAX_COMPILE_CACHE=0`
turns it off; `STYLJAX_COMPILE_CACHE=DIR` puts it elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "STYLJAX_COMPILE_CACHE"
SUBDIR = "jax"


def default_path() -> Path | None:
    """Where `enable()` puts the cache: `$STYLJAX_COMPILE_CACHE`, else `<styljax cache>/jax`;
    None if `STYLJAX_COMPILE_CACHE` is 0/off/false/no."""
    env = os.environ.get(ENV, "").strip()
    if env.lower() in ("0", "off", "false", "no"):
        return None
    if env:
        return Path(env).expanduser()
    from styljax.io.weights import cache_dir

    return cache_dir() / SUBDIR


def enable(path: str | os.PathLike | None = None) -> Path | None:
    """Turn JAX's persistent compilation cache on at `path` (default: `default_path()`) for every
    compilation of this process from now on; returns the directory, or None when the cache is off
    (`STYLJAX_COMPILE_CACHE=0`) or the directory cannot be created. Idempotent; a new `path` moves
    the cache."""
    target = Path(path).expanduser() if path is not None else default_path()
    if target is None:
        return None
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home: run uncached rather than fail

    import jax
    from jax.experimental.compilation_cache import compilation_cache

    if jax.config.jax_compilation_cache_dir == str(target):
        return target
    jax.config.update("jax_compilation_cache_dir", str(target))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)  # no size floor either
    compilation_cache.reset_cache()  # reopened at the new directory by the next compilation
    return target


def disable() -> None:
    """Stop using the persistent cache in this process (tests)."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_compilation_cache_dir", None)
    compilation_cache.reset_cache()
