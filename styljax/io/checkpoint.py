"""Orbax checkpoint layout for training runs.

A run directory holds `ckpt/<step>/` (orbax `CheckpointManager`: the whole `TrainState` as one
`state` item plus a JSON `meta` item with the config that made it). Saves are synchronous so a
save triggered by SIGTERM is complete before the process exits; orbax writes each step to a
temporary directory and renames it, so an interrupted save (a killed process, a full disk) never
shadows the last good one; orbax removes the temporary directory at the next start.

A failed write (disk full, I/O error) fails one of orbax's concurrent tensorstore writes first:
orbax's `asyncio.gather` raises at once and `asyncio_utils.run_sync` closes its event loop while the
other writes of that save are still in flight. When they finish (failing too), tensorstore's own
threads hand each result to the closed loop (`call_soon_threadsafe`), which raises
`RuntimeError: Event loop is closed`; tensorstore reports it through `sys.unraisablehook`, a
traceback on stderr per write, milliseconds after the loop closed (how many depends on the
threads' timing: often none on a busy machine, one per array on an idle one). The
results it drops belong to the step that failed, which is reported once as a `StyljaxError` and
never becomes a checkpoint. `save` installs a hook that drops exactly that report (a RuntimeError
"Event loop is closed" raised in `call_soon_threadsafe`, reported from a thread Python did not
start, with no object) and passes everything else to the hook it replaced. The same closed loop
can leave orbax's gathered writes with an exception nobody retrieved; asyncio logs that (with a
traceback) when the future is collected, and a filter on the `asyncio` logger drops exactly those
reports of orbax's writes. The gather can also leave some of its per-fragment coroutines
(`write_fragment`) never started; Python warns of each when it is collected, often at exit, after
the one line; a warnings filter drops exactly that warning.
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from styljax.errors import StyljaxError


def manager(directory: str | Path, keep: int = 2) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, enable_async_checkpointing=False, create=True, cleanup_tmp_directories=True
    )
    return ocp.CheckpointManager(Path(directory).absolute(), options=options, item_names=("state", "meta"))


def _late_write_result(u) -> bool:
    """Whether an unraisable report is a tensorstore write's result arriving at the event loop
    orbax closed after a failed save (the module docstring)."""
    if u.exc_type is not RuntimeError or str(u.exc_value) != "Event loop is closed" or u.object is not None:
        return False
    if not isinstance(threading.current_thread(), threading._DummyThread):  # not one of tensorstore's threads
        return False
    tb, names = u.exc_traceback, []
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    return names[:1] == ["call_soon_threadsafe"]


def _unretrieved_write_error(record: logging.LogRecord) -> bool:
    """Whether an `asyncio` log record is the "exception was never retrieved" report of a future
    that orbax gathered its writes into, failed with the error the failed save reports once."""
    if "exception was never retrieved" not in record.getMessage().split("\n", 1)[0]:
        return False
    exc = record.exc_info[1] if record.exc_info else None
    if not isinstance(exc, (OSError, ValueError, RuntimeError)):
        return False
    tb = exc.__traceback__
    while tb is not None:
        if "orbax" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


class _DropUnretrievedWriteErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _unretrieved_write_error(record)


# The warning Python gives when orbax's abandoned per-fragment write coroutine is collected.
_UNAWAITED_WRITE = r"coroutine '.*\.write_fragment' was never awaited"


def _install_late_write_filter() -> None:
    warnings.filterwarnings("ignore", message=_UNAWAITED_WRITE, category=RuntimeWarning)
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, _DropUnretrievedWriteErrors) for f in asyncio_log.filters):
        asyncio_log.addFilter(_DropUnretrievedWriteErrors())
    previous = sys.unraisablehook
    if getattr(previous, "_styljax_late_writes", False):
        return

    def hook(u):
        if not _late_write_result(u):
            previous(u)

    hook._styljax_late_writes = True
    sys.unraisablehook = hook


def save(mngr: ocp.CheckpointManager, step: int, state: Any, meta: dict) -> None:
    """Write `step` (synchronously). A failed write (disk full, I/O error) is a one-line
    StyljaxError naming the last complete checkpoint, which the failed one never replaces."""
    _install_late_write_filter()  # before the save: the late reports can come before it returns
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.CRITICAL)  # orbax's writer threads log a failed write with tracebacks; it is reported below, once
    try:
        mngr.save(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
            force=True,
        )
        mngr.wait_until_finished()
    except (OSError, ValueError, RuntimeError) as e:  # tensorstore reports OS errors as ValueError
        mngr.reload()  # forget the step that was not written
        last = mngr.latest_step()
        reason = " ".join(str(e).split())[:300]
        raise StyljaxError(
            f"{mngr.directory}: checkpoint of step {step} not written ({type(e).__name__}: {reason}); "
            + (f"the last complete checkpoint is step {last}" if last is not None else "no earlier checkpoint")
            + ", rerun the same command to resume once the disk is fixed"
        ) from None
    finally:
        absl.setLevel(level)


def restore(mngr: ocp.CheckpointManager, like: Any, step: int | None = None) -> tuple[Any, dict] | None:
    """(state, meta) of `step` (default: the latest), shaped like `like`; None if there is none."""
    step = mngr.latest_step() if step is None else step
    if step is None:
        return None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)

    try:
        out = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                         meta=ocp.args.JsonRestore()))
    except ValueError:
        # A run written by an older optimizer layout: the same arrays at the same paths, with the
        # leafless placeholders (masked subtrees, empty states) laid out differently.
        out = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(), meta=ocp.args.JsonRestore()))
        out = {"state": _by_path(out["state"], like, step), "meta": out["meta"]}
    return out["state"], dict(out["meta"] or {})


def _path(keys) -> tuple[str, ...]:
    return tuple(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in keys)


def _by_path(raw: Any, like: Any, step: int) -> Any:
    """`like` with every array taken from the restored tree `raw` at the same key path (placed as
    `like`'s leaf is); a one-line error if `raw` lacks one or holds another shape."""
    arrays = {_path(k): v for k, v in jax.tree_util.tree_leaves_with_path(raw)}

    def take(keys, leaf):
        got = arrays.get(_path(keys))
        if got is None or tuple(got.shape) != tuple(leaf.shape):
            raise StyljaxError(f"checkpoint step {step}: no array {jax.tree_util.keystr(keys)} of shape "
                               f"{tuple(leaf.shape)}; it was written by an incompatible version")
        return jax.device_put(got, leaf.sharding) if hasattr(leaf, "sharding") else got

    return jax.tree_util.tree_map_with_path(take, like)
