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
