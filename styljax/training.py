"""The one training loop and the one train step every feed-forward method plugs into.

A method is a `Task`: its parameters at the start, a pytree of constants (loss-network params,
style Gram targets, ...), a pure loss over (params, batch, constants, phase) and samples to look
at. What trains is not the task's business: a `Trainable` filter (the experiment config's) names
groups of leaves by path, each group gets its own Adam and everything else is frozen through one
`optax.partition` with `set_to_zero`, so frozen leaves have no optimizer state and stay
bit-identical. `train_step` differentiates the loss with respect to the trainable leaves only (a
frozen encoder costs no backward pass through it).

`phase = task.phase(step)` is a small static int for methods that alternate objectives
(StyleBank's T+1 schedule, the video nets' flow warm-up): the step is one pure function, compiled
once per phase (a `lax.cond` over both branches ran several times slower on XLA:CPU, see
BENCHMARKS.md); `task.phase_groups(phase)` names the groups a phase trains, and the others sit it
out with their optimizer state untouched.
The loop owns everything else, once for all methods:

- jit of the step, with a NaN/Inf guard *inside* it: if the loss or any param goes non-finite the
  step returns the previous state unchanged, and so does every later step (a device-side flag);
  the loop reads the flag at log and checkpoint steps only (no host sync per step), then writes
  that last good state as a checkpoint and stops with an error naming the first bad step;
- data by step index (`ds[step]`, see `styljax.io.data`), so resume continues exactly, read a few
  steps ahead by grain's threads (`data.prefetch`);
- a tqdm bar, metrics as JSON lines (`metrics.jsonl`) and TensorBoard events (`tb/`), a sample
  contact sheet every N steps (`samples/`);
- orbax checkpoints every N steps, at the end, and on SIGINT/SIGTERM (then it stops cleanly);
- data parallelism (`styljax.runtime.parallel`): a mesh over every device of every process, params and
  constants replicated, each batch split along its first axis, the step jitted with those in/out
  shardings; one device is the same code with a 1-device mesh. Checkpoints restore onto any device
  count (the restore target carries the current mesh's sharding). Multi-host, every process runs
  this loop on the same global batch stream; only process 0 writes logs and samples.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import json
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from styljax.errors import StyljaxError
from styljax.io import checkpoint, data, image
from styljax.runtime import parallel

FROZEN = "frozen"
NEW = "{new}"  # in a `Group` path pattern: each style being added


class TrainState(struct.PyTreeNode):
    """step, all params (trainable and frozen), optimizer state (trainable part only), and any
    method-specific carry (`extra`, e.g. the last stylizing-branch gradient norm)."""

    step: jax.Array
    params: Any
    opt_state: Any
    extra: Any = None


@dataclasses.dataclass(frozen=True)
class Group:
    """Leaves that train together under one Adam.

    Args:
      name: the group's optimizer partition (kept in checkpoints: renaming one breaks resume).
      paths: `fnmatch` patterns over a leaf's key path joined by "/" (`"banks/*"`, `"net/*"`);
        `{new}` stands for each style being added (`"banks/{new}/*"`).
      lr_scale: this group's learning rate relative to the schedule's.
    """

    name: str
    paths: tuple[str, ...]
    lr_scale: float = 1.0


@dataclasses.dataclass(frozen=True)
class Trainable:
    """What the optimiser sees, as a freeze filter: the first group whose pattern matches a leaf's
    path takes it; a leaf no group matches is frozen (`set_to_zero`, no optimizer state)."""

    groups: tuple[Group, ...]

    def __post_init__(self):
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names) or FROZEN in names:
            raise ValueError(f"group names must be unique and not {FROZEN!r}, got {names}")

    def group_of(self, path: str, new: Sequence[str] = ()) -> str:
        """The group (or `FROZEN`) of the leaf at `path` ("banks/wave/kernel")."""
        for g in self.groups:
            for pattern in g.paths:
                if any(fnmatch.fnmatchcase(path, pattern.replace(NEW, n)) for n in (new if NEW in pattern else [""])):
                    return g.name
        return FROZEN

    def labels(self, params: Any, new: Sequence[str] = ()) -> Any:
        """The group name (or `FROZEN`) of every leaf of `params`, as a pytree of strings."""
        key = lambda path: "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path)
        return jax.tree_util.tree_map_with_path(lambda path, _: self.group_of(key(path), new), params)

    def names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.groups)


def everything(name: str = "train") -> Trainable:
    """Every leaf in one group."""
    return Trainable((Group(name, ("*",)),))


def schedule(learning_rate: float, decay_every: int, decay_rate: float) -> optax.Schedule:
    """The learning rate of every method: staircase exponential decay."""
    return optax.exponential_decay(learning_rate, decay_every, decay_rate, staircase=True)


class Task(Protocol):
    """A method's training, as the loop sees it. `trainable`, `new_styles` and `learning_rate`
    come from the experiment config; the rest is the method's own."""

    name: str
    trainable: Trainable
    new_styles: tuple[str, ...]
    learning_rate: optax.Schedule

    def init_params(self, key: jax.Array) -> Any: ...

    def init_extra(self) -> Any: ...

    def constants(self) -> Any: ...

    def phase(self, step: int) -> int: ...

    def phase_groups(self, phase: int) -> tuple[str, ...] | None: ...

    def loss(self, params: Any, batch: dict, consts: Any, phase: int, state: TrainState) -> tuple[jax.Array, dict]: ...

    def adjust_gradients(self, grads: Any, state: TrainState, phase: int) -> tuple[Any, Any]: ...

    def sample(self, params: Any, batch: dict, consts: Any) -> np.ndarray: ...

    def finish(self, params: Any, batches: Any) -> tuple[Any, dict]: ...

    def meta(self) -> dict: ...


def optimizer(task: Task) -> optax.GradientTransformation:
    """One Adam per group of `task.trainable` (each at its `lr_scale`), `set_to_zero` for the rest."""
    lr = task.learning_rate
    transforms = {g.name: optax.adam(lr if g.lr_scale == 1.0 else (lambda step, s=g.lr_scale: s * lr(step)))
                  for g in task.trainable.groups}
    transforms[FROZEN] = optax.set_to_zero()
    return optax.partition(transforms, lambda params: task.trainable.labels(params, task.new_styles))


def init_state(task: Task, key: jax.Array) -> TrainState:
    """Step 0: the task's initial params, the optimizer state of its trainable groups, its carry."""
    params = task.init_params(key)
    return TrainState(jnp.int32(0), params, optimizer(task).init(params), task.init_extra())


def train_step(task: Task, state: TrainState, batch: dict, consts: Any, phase: int = 0) -> tuple[TrainState, dict]:
    """One optimiser step of any task: the gradient of `task.loss` with respect to the leaves the
    phase trains, `task.adjust_gradients`, one `optimizer(task)` update. Groups the phase does not
    train keep their params and optimizer state as they were (phase is static)."""
    labels = task.trainable.labels(state.params, task.new_styles)
    active = task.phase_groups(phase)
    active = task.trainable.names() if active is None else tuple(active)
    trains = jax.tree.map(lambda l: l in active, labels)
    is_none = lambda x: x is None
    part = jax.tree.map(lambda t, x: x if t else None, trains, state.params)

    def loss_of(part):
        params = jax.tree.map(lambda p, x: x if p is None else p, part, state.params, is_leaf=is_none)
        return task.loss(params, batch, consts, phase, state)

    (loss, metrics), g = jax.value_and_grad(loss_of, has_aux=True)(part)
    grads = jax.tree.map(lambda d, x: jnp.zeros_like(x) if d is None else d, g, state.params, is_leaf=is_none)
    grads, extra = task.adjust_gradients(grads, state, phase)
    updates, opt_state = optimizer(task).update(grads, state.opt_state, state.params)
    idle = [n for n in task.trainable.names() if n not in active]
    if idle:  # a group this phase does not train: no update, and its Adam moments and count stay
        updates = jax.tree.map(lambda l, u: jnp.zeros_like(u) if l in idle else u, labels, updates)
        opt_state = opt_state._replace(inner_states={
            k: (state.opt_state.inner_states[k] if k in idle else v) for k, v in opt_state.inner_states.items()})
    params = optax.apply_updates(state.params, updates)
    return TrainState(state.step + 1, params, opt_state, extra), {"loss": loss, **metrics}


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    steps: int
    log_every: int = 10
    sample_every: int = 0  # 0: never
    checkpoint_every: int = 200
    keep: int = 2
    seed: int = 0
    progress: bool = True


def all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def guarded(step_fn: Callable) -> Callable:
    """Wrap a train step so a non-finite loss or param keeps the previous state.

    `healthy` is a device-side flag that stays False once a step went non-finite: every later
    step is then a no-op, so the loop can check the flag only now and then (a host sync per step
    would stall the device) and still stop at the last good state.
    """

    def step(state, batch, consts, phase, healthy):
        new, metrics = step_fn(state, batch, consts, phase)
        ok = healthy & jnp.isfinite(metrics["loss"]) & all_finite(new.params)
        new = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, state)
        return new, {**metrics, "finite": ok}, ok

    return step


def compiled_step(task: Task, mesh: jax.sharding.Mesh) -> Callable:
    """The task's guarded step jitted for `mesh` (params replicated, batch split on axis 0).

    Kept on the task object, one per mesh, so that a resumed or repeated `train` in the same
    process reuses the compilation, and it goes away with the task.
    """
    cache = task.__dict__.setdefault("_compiled_steps", {})
    if mesh not in cache:
        whole, split = parallel.replicated(mesh), parallel.batch_sharded(mesh)
        cache[mesh] = jax.jit(guarded(functools.partial(train_step, task)), donate_argnums=0, static_argnums=3,
                              in_shardings=(whole, split, whole, whole), out_shardings=whole)
    return cache[mesh]


class _StopFlag:
    """Turns SIGINT/SIGTERM into a flag the loop checks between steps."""

    def __init__(self):
        self.signal: int | None = None

    def __enter__(self):
        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        self.signal = signum

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


class _Logs:
    """metrics.jsonl + TensorBoard event files under the run directory."""

    def __init__(self, workdir: Path):
        self.path = workdir / "metrics.jsonl"
        self._tb = None
        try:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(workdir / "tb"))
        except ImportError:  # optional
            pass

    def write(self, step: int, metrics: dict) -> None:
        metrics = {k: v for k, v in metrics.items() if np.isfinite(v)}  # e.g. the branch not taken
        record = {"step": step, **metrics}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _scalars(metrics: dict) -> dict:
    return {k: float(v) for k, v in jax.device_get(metrics).items() if np.ndim(v) == 0}


def train(
    task: Task,
    batches: Any,
    cfg: LoopConfig,
    workdir: str | Path,
    *,
    state: TrainState | None = None,
    on_log: Callable[[int, dict], None] | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> TrainState:
    """Run `task` to `cfg.steps`, resuming from `workdir` if it holds a checkpoint.

    `batches[step]` must give the (global) batch of that step (a `grain.MapDataset` from
    `styljax.io.data`); its size must divide over the mesh. `state` overrides the task's fresh initial
    state (e.g. a model to fine-tune) when there is no checkpoint to resume from. `mesh` defaults
    to every device (`parallel.data_mesh()`). Returns the final state (replicated over the mesh).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    mesh = parallel.data_mesh() if mesh is None else mesh
    main = jax.process_index() == 0
    mngr = checkpoint.manager(workdir / "ckpt", keep=cfg.keep)
    fresh = init_state(task, jax.random.key(cfg.seed)) if state is None else state
    fresh = parallel.replicate(fresh, mesh)
    restored = checkpoint.restore(mngr, fresh)  # onto this mesh, whatever mesh saved it
    state = restored[0] if restored is not None else fresh
    state = jax.tree.map(jnp.copy, state)  # the step donates its input: never the caller's arrays
    start = int(state.step)
    meta = task.meta()
    consts = parallel.replicate(task.constants(), mesh)
    step_fn = compiled_step(task, mesh)
    healthy = parallel.replicate(jnp.bool_(True), mesh)
    pending: list[tuple[int, jax.Array]] = []  # (step, its finite flag) not yet checked on the host

    def check_finite() -> None:
        """One host sync: stop with the last good state if a step since the last check went bad."""
        if pending and not bool(healthy):
            flags = jax.device_get([ok for _, ok in pending])
            bad = next(n for (n, _), ok in zip(pending, flags) if not ok)
            checkpoint.save(mngr, int(state.step), state, meta)
            raise StyljaxError(
                f"non-finite loss at step {bad}; stopped, last good checkpoint is step {int(state.step)} in {workdir}"
            )
        pending.clear()

    from tqdm.auto import tqdm

    logs = _Logs(workdir) if main else None
    bar = tqdm(total=cfg.steps, initial=start, desc=task.name, dynamic_ncols=True, disable=not (cfg.progress and main))
    stream = data.prefetch(batches, start, cfg.steps)
    t0, last_saved = time.perf_counter(), start
    try:
        with _StopFlag() as stop:
            for step in range(start, cfg.steps):
                batch = next(stream)
                state, metrics, healthy = step_fn(state, parallel.shard_batch(batch, mesh), consts, task.phase(step), healthy)
                done = step + 1
                pending.append((done, metrics["finite"]))
                bar.update(1)
                if done % cfg.log_every == 0 or done == cfg.steps:
                    check_finite()
                    m = _scalars(metrics)
                    m["steps_per_s"] = (done - start) / (time.perf_counter() - t0)
                    if logs:
                        logs.write(done, m)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in m.items() if k in ("loss", "content", "style", "identity")})
                    if on_log:
                        on_log(done, m)
                if main and cfg.sample_every and (done % cfg.sample_every == 0 or done == cfg.steps):
                    sheet = task.sample(state.params, batch, consts)
                    image.save_image(workdir / "samples" / f"step_{done:06d}.jpg", sheet, quality=90)
                if done % cfg.checkpoint_every == 0 or done == cfg.steps or stop.signal is not None:
                    check_finite()
                    checkpoint.save(mngr, done, state, meta)
                    last_saved = done
                if stop.signal is not None:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        check_finite()
        if int(state.step) != last_saved:
            checkpoint.save(mngr, int(state.step), state, meta)
        raise StyljaxError(f"interrupted at step {int(state.step)}; checkpoint saved, rerun the same command to resume") from None
    finally:
        bar.close()
        if logs:
            logs.close()
    return state
