"""The image-optimisation loop shared by every method that optimises pixels.

A method (Gatys with its Gram or MRF style loss, Deep Photo Style Transfer, a per-frame video
baseline) supplies two things:

* a pure loss `loss_fn(x, aux) -> (total, parts)`: x the image (H, W, 3), aux any pytree of
  arrays the loss reads (VGG params, content features, style targets, a warped previous frame and
  its mask, ...), total a scalar and parts a dict of scalars for display;
* an initial image.

`Loop(loss_fn, cfg)` jits one driver for it: up to n optimiser steps in one `lax.while_loop`
(Adam, projected onto [0, 1], or L-BFGS: `optax.lbfgs` with its zoom line search and
`optax.value_and_grad_from_state`, so an accepted line-search point is never evaluated twice).
`Loop.run` calls it in chunks that end at the log steps (every `every` global steps) and yields a
`Step` there only, so the host waits for the device once per chunk, not once per step. aux is an
argument of the jitted driver, not a constant of it: a new frame, scale or target with the same
shapes reuses the compiled loop.

Stages (coarse-to-fine scales, DPST's two stages, video frames) are the method's business: it
calls `run` once per stage with that stage's initial image and aux.

Evaluations are counted exactly (one per line-search trial, plus one at the start of a stage) and
can be bounded per stage with `OptimConfig.max_evals`: a step starts only while its worst case
(`linesearch_steps` trials for L-BFGS, one for Adam) fits in what is left, so a stage never spends
more than `max_evals`.

`lbfgs_minimize` is the same L-BFGS as one jittable function, for a minimisation nested inside a
larger jitted program (Deep Image Analogy's deconvolution, refining an arbitrary-style vector): no
chunks, no logging, the loop's result is the function's value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

LossFn = Callable[[jax.Array, Any], tuple[jax.Array, Mapping[str, jax.Array]]]

OPTIMIZERS = ("lbfgs", "adam")


def check_choices(checks: Mapping[str, tuple[Any, tuple[Any, ...]]]) -> None:
    """Raise ValueError for the first `name: (value, allowed)` whose value is not allowed."""
    for name, (value, allowed) in checks.items():
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """How to minimise: the optimiser and its settings, the evaluation budget per stage.

    `learning_rate` is Adam's, in [0, 1] pixel units. `lbfgs_memory` and `linesearch_steps` are
    L-BFGS's history length and its zoom line search's trial limit (optax's default 20).
    `max_evals` bounds the loss evaluations of one stage (None: only the step count bounds it).
    """

    optimizer: str = "lbfgs"
    learning_rate: float = 0.02
    lbfgs_memory: int = 10
    linesearch_steps: int = 20
    max_evals: int | None = None

    def __post_init__(self):
        check_choices({"optimizer": (self.optimizer, OPTIMIZERS)})
        if self.lbfgs_memory < 1 or self.linesearch_steps < 1:
            raise ValueError("lbfgs_memory and linesearch_steps must be >= 1")
        if self.max_evals is not None and self.max_evals < 1:
            raise ValueError(f"max_evals must be >= 1 or None, got {self.max_evals}")

    def transformation(self) -> optax.GradientTransformationExtraArgs:
        """The optax optimiser these settings describe."""
        if self.optimizer == "lbfgs":
            search = optax.scale_by_zoom_linesearch(self.linesearch_steps, initial_guess_strategy="one")
            return optax.lbfgs(memory_size=self.lbfgs_memory, linesearch=search)
        return optax.adam(self.learning_rate)


@dataclasses.dataclass
class Step:
    """Where the loop stands at a log step.

    stage: index of the stage (a scale for Gatys, a DPST stage, a frame); step: steps done in
    this stage minus one (the index of the step just taken); global_step: steps done since
    `start` of the first stage; image: the current image (H, W, 3), unclipped; loss: the total
    loss the last step evaluated at its starting point; evals: loss evaluations spent in this
    stage so far; last: whether the stage ends here (steps done or budget spent).
    """

    stage: int
    step: int
    global_step: int
    image: jax.Array
    loss: float
    evals: int
    last: bool
    parts_fn: Callable[[], dict[str, float]]

    @property
    def scale(self) -> int:
        """The stage index, by the name coarse-to-fine methods give it."""
        return self.stage

    def parts(self) -> dict[str, float]:
        """The loss's named parts at `image`, computed on demand (one more evaluation)."""
        return self.parts_fn()


class Loop:
    """One jitted optimiser driver for `loss_fn`; see the module docstring."""

    def __init__(self, loss_fn: LossFn, cfg: OptimConfig = OptimConfig()):
        """Args:
            loss_fn: pure (x, aux) -> (total, parts).
            cfg: the optimiser and its evaluation budget.
        """
        self.cfg = cfg
        self.loss_fn = loss_fn
        self._opt = cfg.transformation()
        self._chunk = jax.jit(self._make_chunk())
        self._parts = jax.jit(lambda x, aux: loss_fn(x, aux)[1])

    def init(self, x: jax.Array):
        """A fresh optimiser state for image x (a new stage starts from one)."""
        return self._opt.init(x)

    def _make_chunk(self):
        opt, cfg, loss_fn = self._opt, self.cfg, self.loss_fn
        lbfgs = cfg.optimizer == "lbfgs"
        budget = jnp.iinfo(jnp.int32).max if cfg.max_evals is None else cfg.max_evals

        def worst_case(state):
            """Evaluations the next step may spend: its line search, plus one if the state holds
            no value yet (the first step evaluates the starting point)."""
            if not lbfgs:
                return jnp.int32(1)
            stored = optax.tree.get(state, "value")
            fresh = (jnp.isinf(stored) | jnp.isnan(stored)).astype(jnp.int32)
            return cfg.linesearch_steps + fresh

        def step(x, state, aux):
            value_fn = lambda y: loss_fn(y, aux)[0]
            if lbfgs:
                stored = optax.tree.get(state, "value")
                fresh = (jnp.isinf(stored) | jnp.isnan(stored)).astype(jnp.int32)
                value, grad = optax.value_and_grad_from_state(value_fn)(x, state=state)
                updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=value_fn)
                evals = fresh + optax.tree.get(state, "num_linesearch_steps").astype(jnp.int32)
                return optax.apply_updates(x, updates), state, value, evals
            value, grad = jax.value_and_grad(value_fn)(x)
            updates, state = opt.update(grad, state, x)
            x = jnp.clip(optax.apply_updates(x, updates), 0.0, 1.0)  # projected Adam
            return x, state, value, jnp.int32(1)

        def chunk(x, state, aux, n, evals):
            """Up to n steps from (x, state) while the budget allows: (x, state, steps taken,
            evals, last value, whether the budget stopped it)."""

            def fits(state, evals):
                return evals + worst_case(state) <= budget

            def keep_going(carry):
                i, _, state, evals, _ = carry
                return (i < n) & fits(state, evals)

            def body(carry):
                i, x, state, evals, _ = carry
                x, state, value, spent = step(x, state, aux)
                return i + 1, x, state, evals + spent, value.astype(jnp.float32)

            init = (jnp.int32(0), x, state, jnp.asarray(evals, jnp.int32), jnp.float32(jnp.nan))
            i, x, state, evals, value = jax.lax.while_loop(keep_going, body, init)
            return x, state, i, evals, value, ~fits(state, evals)

        return chunk

    def run(
        self,
        x0: jax.Array,
        aux: Any,
        steps: int,
        *,
        stage: int = 0,
        start: int = 0,
        every: int = 1,
    ) -> Iterator[Step]:
        """Optimise from x0 for up to `steps` steps, yielding a `Step` at every global step that is
        a multiple of `every` and at the stage's end.

        Args:
            x0: initial image (H, W, 3).
            aux: the loss's other argument (a pytree of arrays).
            steps: optimiser steps in this stage.
            stage: the stage index reported in each Step.
            start: global steps done before this stage (the log steps are multiples of `every`
                in global steps, so a snapshot schedule carries across stages).
            every: log interval in global steps (>= 1).
        """
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        x, state, evals, done = x0, self.init(x0), 0, 0
        while done < steps:
            n = min(steps - done, every - (start + done) % every)
            x, state, taken, evals_a, value, spent = self._chunk(x, state, aux, n, evals)
            taken, evals = int(taken), int(evals_a)
            if taken == 0:  # the budget allowed no further step
                return
            done += taken
            last = done == steps or bool(spent)
            yield Step(stage, done - 1, start + done, x, float(value), evals, last, self._parts_at(x, aux))
            if last:
                return

    def _parts_at(self, x: jax.Array, aux: Any) -> Callable[[], dict[str, float]]:
        return lambda: {k: float(v) for k, v in self._parts(x, aux).items()}


def minimize(
    loss_fn: LossFn,
    x0: jax.Array,
    aux: Any,
    steps: int,
    cfg: OptimConfig = OptimConfig(),
    *,
    every: int = 10,
    callback: Callable[[Step], Any] | None = None,
) -> Step:
    """Run one stage to its end: the last `Step` (its `image` is the result).

    Args:
        loss_fn: pure (x, aux) -> (total, parts).
        x0: initial image (H, W, 3).
        aux: the loss's other argument.
        steps: optimiser steps.
        cfg: optimiser settings and evaluation budget.
        every: log interval; `callback(step)` runs at these steps only.
        callback: called with each logged `Step`.
    Raises:
        ValueError: when no step could run (steps = 0, or a budget below one step's worst case).
    """
    last = None
    for last in Loop(loss_fn, cfg).run(x0, aux, steps, every=every):
        if callback is not None:
            callback(last)
    if last is None:
        raise ValueError("no optimisation step ran (steps = 0 or max_evals below one step's worst case)")
    return last


def lbfgs_minimize(
    fun: Callable[[Any], jax.Array],
    x0: Any,
    *,
    max_iters: int = 100,
    memory: int = 4,
    gtol: float = 1e-4,
    ftol: float = 1e-6,
) -> tuple[Any, jax.Array, jax.Array]:
    """Minimise a scalar `fun` from `x0` with `optax.lbfgs` (zoom line search) in one `lax.while_loop`.

    Stops after `max_iters` steps, once ‖∇fun‖₂ < `gtol`, or once a step no longer decreases the
    value: (f_prev − f) <= ftol · max(|f_prev|, |f|, 1) (SciPy's L-BFGS-B rule). Without the last
    rule a stalled run keeps exhausting the line search (20 evaluations per step instead of about
    one): a Deep Image Analogy deconvolution of a photo pair spent ~1,900 evaluations on 100 steps.
    Returns (x, fun(x), steps taken). Call it inside `jax.jit`; `fun` may close over traced arrays.
    """
    opt = optax.lbfgs(memory_size=memory)
    value_and_grad = optax.value_and_grad_from_state(fun)

    def step(carry):
        x, state, _, _ = carry
        value, grad = value_and_grad(x, state=state)
        updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=fun)
        return optax.apply_updates(x, updates), state, optax.tree.norm(grad), value

    def keep_going(carry):
        _, state, grad_norm, prev = carry
        k = optax.tree.get(state, "count")
        value = optax.tree.get(state, "value")
        decreasing = (prev - value) > ftol * jnp.maximum(jnp.maximum(jnp.abs(prev), jnp.abs(value)), 1.0)
        return (k == 0) | ((k < max_iters) & (grad_norm >= gtol) & (jnp.isinf(prev) | decreasing))

    inf = jnp.asarray(jnp.inf, jnp.float32)
    x, state, _, _ = jax.lax.while_loop(keep_going, step, (x0, opt.init(x0), inf, inf))
    return x, optax.tree.get(state, "value"), optax.tree.get(state, "count")
