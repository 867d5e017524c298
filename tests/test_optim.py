import jax
import jax.numpy as jnp
import numpy as np

from styljax.optim import lbfgs_minimize


def test_lbfgs_solves_a_least_squares_problem_inside_jit():
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.normal(size=(30, 10)), jnp.float32)
    x_true = jnp.asarray(rng.normal(size=(10,)), jnp.float32)
    b = a @ x_true

    @jax.jit
    def solve(b):
        return lbfgs_minimize(lambda x: jnp.sum(jnp.square(a @ x - b)), jnp.zeros(10), max_iters=100, gtol=1e-5)

    x, value, steps = solve(b)
    np.testing.assert_allclose(x, x_true, atol=1e-3)
    assert float(value) < 1e-6 and 1 <= int(steps) < 100  # stopped on the gradient tolerance


def test_lbfgs_respects_max_iters_on_a_pytree():
    fun = lambda p: jnp.sum(jnp.square(p["u"] - 3.0)) + jnp.sum(jnp.cos(p["v"]) ** 2) + 10 * jnp.sum(p["v"] ** 4)
    x, value, steps = jax.jit(lambda x0: lbfgs_minimize(fun, x0, max_iters=3))({"u": jnp.zeros(4), "v": jnp.ones(2)})
    assert int(steps) == 3 and float(value) < float(fun({"u": jnp.zeros(4), "v": jnp.ones(2)}))
