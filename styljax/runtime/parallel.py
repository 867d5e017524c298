"""Data parallelism over devices and hosts with `jax.sharding`: one mesh axis "data".

Training and batch inference use the same three pieces: a mesh over every device (`data_mesh`),
params replicated (`replicate`), batches split along their first axis (`shard_batch`). Under
`jax.jit` XLA then runs each device on its slice of the batch and all-reduces the gradients: the
step is the single-device step, so losses match one device up to float summation order.

Multi-host (TPU pods, several GPU hosts): every process calls `initialize` (i.e.
`jax.distributed.initialize`) before touching a device; `jax.devices()` then lists every host's
devices and the mesh spans them. Each process holds the same global batch in host memory and
`shard_batch` hands each device only its own rows (`jax.make_array_from_callback`).

The mesh axis is `AxisType.Auto` (GSPMD propagation): `jax.make_mesh` defaults to Explicit
axes, whose sharding-in-types would have every reshape of a batch-sharded array state its output
sharding — the models would need sharding annotations throughout for no gain in data parallelism.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

from styljax.errors import StyljaxError

AXIS = "data"


def data_mesh(devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
    """A 1-D mesh ("data",) over `devices` (default: all devices of all processes)."""
    devices = list(jax.devices() if devices is None else devices)
    return jax.make_mesh((len(devices),), (AXIS,), axis_types=(AxisType.Auto,), devices=devices)


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharded(mesh: jax.sharding.Mesh) -> NamedSharding:
    """Leading (batch) axis split over "data", the rest whole."""
    return NamedSharding(mesh, P(AXIS))


def replicate(tree: Any, mesh: jax.sharding.Mesh) -> Any:
    """Every leaf on every device of the mesh (params, optimizer state, loss constants)."""
    sharding = replicated(mesh)
    return jax.tree.map(lambda a: _global(np.asarray(a) if not isinstance(a, jax.Array) else a, sharding), tree)


def shard_batch(tree: Any, mesh: jax.sharding.Mesh) -> Any:
    """A host batch (the same global batch on every process) → global arrays split on axis 0."""
    sharding = batch_sharded(mesh)

    def put(a):
        a = np.asarray(a)
        if a.ndim == 0 or a.shape[0] % mesh.size:
            raise StyljaxError(f"batch of {a.shape[0] if a.ndim else 0} does not split over {mesh.size} devices; "
                               f"use a batch size divisible by {mesh.size}")
        return _global(a, sharding)

    return jax.tree.map(put, tree)


def _global(a, sharding: NamedSharding) -> jax.Array:
    if jax.process_count() == 1:
        return jax.device_put(a, sharding)
    a = np.asarray(a)  # multi-host: each process supplies its own devices' slices
    return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])


def local_batch_sharding() -> NamedSharding | None:
    """Batch axis over this process's devices (for serving), or None with one device."""
    devices = jax.local_devices()
    return batch_sharded(data_mesh(devices)) if len(devices) > 1 else None


def is_main() -> bool:
    """Process 0 writes the shared artefacts (final model, logs); every process trains."""
    return jax.process_index() == 0


def process_share(items: Sequence, index: int | None = None, count: int | None = None) -> list:
    """This process's share of a work list (round-robin: items[index::count])."""
    index = jax.process_index() if index is None else index
    count = jax.process_count() if count is None else count
    return list(items)[index::count]


# ------------------------------------------------------------------------------------ multi-host


def initialize(args: argparse.Namespace) -> None:
    """`jax.distributed.initialize` if `--distributed` (the flags `styljax.runtime.cliargs.add_distributed_args`
    defines); must run before anything touches a device."""
    if not getattr(args, "distributed", False):
        if args.coordinator or args.num_processes is not None or args.process_id is not None:
            raise StyljaxError("--coordinator/--num-processes/--process-id need --distributed")
        return
    kw = {k: v for k, v in (("coordinator_address", args.coordinator), ("num_processes", args.num_processes),
                             ("process_id", args.process_id)) if v is not None}
    try:
        jax.distributed.initialize(**kw)
    except (RuntimeError, ValueError) as e:
        raise StyljaxError(f"--distributed: {str(e).splitlines()[0]}") from None
