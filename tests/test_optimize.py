"""styljax.optimization.optimize: the shared image-optimisation loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax.optimization import optimize


def _rosenbrock_image(x, aux):
    """A non-convex loss on an image: Rosenbrock over consecutive pixels, plus a pull to aux."""
    v = x.ravel()
    ros = jnp.sum(100.0 * jnp.square(v[1:] - jnp.square(v[:-1])) + jnp.square(1.0 - v[:-1]))
    pull = jnp.mean(jnp.square(x - aux["target"]))
    return ros + pull, {"rosenbrock": ros, "pull": pull}


def _start(shape=(4, 4, 3), seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(0.0, 0.5, shape), jnp.float32)


AUX = {"target": jnp.full((4, 4, 3), 0.9, jnp.float32)}


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_loss_falls_and_steps_are_reported_at_log_steps(optimizer):
    loop = optimize.Loop(_rosenbrock_image, optimize.OptimConfig(optimizer, learning_rate=0.02))
    x0 = _start()
    first = float(_rosenbrock_image(x0, AUX)[0])
    steps = list(loop.run(x0, AUX, 25, every=10, start=3))
    # log steps are multiples of 10 in global steps (3 done before), plus the stage's end
    assert [s.global_step for s in steps] == [10, 20, 28]
    assert [s.step for s in steps] == [6, 16, 24] and steps[-1].last and not steps[0].last
    final = float(_rosenbrock_image(steps[-1].image, AUX)[0])
    assert final < first / 5, (first, final)
    assert steps[-1].parts()["rosenbrock"] < _rosenbrock_image(x0, AUX)[1]["rosenbrock"]
    if optimizer == "adam":
        assert steps[-1].evals == 25
        assert float(steps[-1].image.min()) >= 0.0 and float(steps[-1].image.max()) <= 1.0


def test_chunked_run_equals_step_by_step():
    cfg = optimize.OptimConfig("lbfgs")
    one = list(optimize.Loop(_rosenbrock_image, cfg).run(_start(), AUX, 12, every=1))
    chunked = list(optimize.Loop(_rosenbrock_image, cfg).run(_start(), AUX, 12, every=5))
    assert len(one) == 12 and len(chunked) == 3
    np.testing.assert_allclose(chunked[-1].image, one[-1].image, rtol=1e-5, atol=1e-6)
    assert chunked[-1].evals == one[-1].evals


def _counted(counter):
    """_rosenbrock_image that counts its evaluations on the host (an independent count)."""

    def loss(x, aux):
        jax.debug.callback(lambda: counter.append(1))
        return _rosenbrock_image(x, aux)

    return loss


@pytest.mark.parametrize("max_evals", [25, 60])
def test_lbfgs_respects_its_evaluation_bound(max_evals):
    counter = []
    cfg = optimize.OptimConfig("lbfgs", linesearch_steps=8, max_evals=max_evals)
    loop = optimize.Loop(_counted(counter), cfg)
    steps = list(loop.run(_start(seed=1), AUX, 1000, every=7))
    jax.effects_barrier()
    counter.clear()  # the runs above also traced; count one clean run
    steps = list(loop.run(_start(seed=1), AUX, 1000, every=7))
    jax.effects_barrier()
    last = steps[-1]
    assert last.last and last.step + 1 < 1000  # the budget, not the step count, ended the stage
    assert last.evals == len(counter) <= max_evals
    # it stopped only when a worst-case step (8 trials) no longer fitted
    assert last.evals + 8 > max_evals


def test_unbounded_lbfgs_counts_line_search_trials():
    counter = []
    loop = optimize.Loop(_counted(counter), optimize.OptimConfig("lbfgs"))
    list(loop.run(_start(seed=2), AUX, 5))  # compile
    jax.effects_barrier()
    counter.clear()
    steps = list(loop.run(_start(seed=2), AUX, 30, every=30))
    jax.effects_barrier()
    assert steps[-1].step == 29 and steps[-1].evals == len(counter) >= 30


def test_new_aux_with_same_shapes_reuses_the_compiled_loop():
    loop = optimize.Loop(_rosenbrock_image, optimize.OptimConfig("adam"))
    list(loop.run(_start(), AUX, 3))
    list(loop.run(_start(seed=3), {"target": AUX["target"] * 0.5}, 4, every=2))
    assert loop._chunk._cache_size() == 1


def test_minimize_and_bad_settings():
    last = optimize.minimize(_rosenbrock_image, _start(), AUX, 15, optimize.OptimConfig("lbfgs"), every=4)
    assert last.global_step == 15 and last.last
    with pytest.raises(ValueError, match="no optimisation step"):
        optimize.minimize(_rosenbrock_image, _start(), AUX, 15, optimize.OptimConfig("lbfgs", max_evals=3))
    with pytest.raises(ValueError, match="optimizer"):
        optimize.OptimConfig("sgd")
    with pytest.raises(ValueError, match="max_evals"):
        optimize.OptimConfig(max_evals=0)
    with pytest.raises(ValueError, match="every"):
        next(optimize.Loop(_rosenbrock_image).run(_start(), AUX, 3, every=0))
