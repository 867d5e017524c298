"""Orbax checkpoint layout for training runs.

A run directory holds `ckpt/<step>/` (orbax `CheckpointManager`: the whole `TrainState` as one
`state` item plus a JSON `meta` item with the config that made it). Saves are synchronous so a
save triggered by SIGTERM is complete before the process exits; orbax writes each step to a
temporary directory and renames it, so an interrupted save (a killed process, a full disk) never
shadows the last good one; orbax removes the temporary directory at the next start.
"""

from __future__ import annotations

import logging
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


def save(mngr: ocp.CheckpointManager, step: int, state: Any, meta: dict) -> None:
    """Write `step` (synchronously). A failed write (disk full, I/O error) is a one-line
    StyljaxError naming the last complete checkpoint, which the failed one never replaces."""
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
    out = mngr.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
    )
    return out["state"], dict(out["meta"] or {})
