"""Whole-loop optimisers: a minimisation as one jittable function of (x0, closure constants)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax


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
