import jax
import jax.numpy as jnp
import numpy as np

from styljax.video import flow


def _img(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(size=shape).astype(np.float32))


def test_warp_integer_shift_is_exact_and_backward():
    x = _img((2, 12, 15, 5))
    f = jnp.zeros((2, 12, 15, 2)).at[..., 0].set(3.0).at[..., 1].set(-2.0)  # u = +3 px, v = -2 px
    y = flow.warp(x, f)
    # backward: y[r, c] = x[r + v, c + u] = x[r - 2, c + 3]
    np.testing.assert_array_equal(np.asarray(y[:, 2:, :-3]), np.asarray(x[:, :-2, 3:]))
    inb = np.asarray(flow.in_bounds(f))
    assert inb.sum() == 2 * 10 * 12 and inb[:, 2:, :-3].all()


def test_warp_bilinear_half_pixel_and_flow_gradient():
    x = jnp.arange(10.0)[None, None, :, None] * jnp.ones((1, 4, 1, 1))
    f = jnp.zeros((1, 4, 10, 2)).at[..., 0].set(0.5)
    np.testing.assert_allclose(np.asarray(flow.warp(x, f))[0, :, :-1, 0], np.tile(np.arange(9) + 0.5, (4, 1)), rtol=0, atol=1e-6)
    # d/du of the warped ramp is its slope 1 at every interior pixel
    g = jax.grad(lambda f: flow.warp(x, f)[:, :, 2:-2].sum())(f)
    np.testing.assert_allclose(np.asarray(g[0, :, 2:-2, 0]), 1.0, atol=1e-6)


def test_resize_flow_scales_vectors():
    f = jnp.ones((1, 32, 48, 2)) * jnp.asarray([4.0, -8.0])
    s = flow.resize_flow(f, (8, 12))
    assert s.shape == (1, 8, 12, 2)
    np.testing.assert_allclose(np.asarray(s), np.broadcast_to([1.0, -2.0], (1, 8, 12, 2)), atol=1e-6)


def test_consistency_mask_flags_inconsistent_flow():
    b = jnp.zeros((1, 16, 16, 2)).at[..., 0].set(2.0)
    good = -b  # forward flow of a global +2 px pan in u: exactly the inverse
    m = np.asarray(flow.consistency_mask(b, good))
    assert m[0, :, :14].all() and not m[0, :, 14:].any()  # the last 2 columns come from outside
    bad = np.asarray(flow.consistency_mask(b, good.at[:, :8].set(5.0)))
    assert not bad[0, :8].any() and bad[0, 8:, :14].all()


def test_warp_error_zero_for_consistent_and_counts_only_traceable():
    x = _img((1, 10, 10, 3))
    f = jnp.zeros((1, 10, 10, 2)).at[..., 0].set(1.0)
    cur = flow.warp(x, f)
    m = jnp.ones((1, 10, 10))
    assert float(flow.warp_error(cur, x, f, m)[0]) < 1e-12
    noisy = cur.at[:, :, :5].add(0.1)
    e_all = float(flow.warp_error(noisy, x, f, m)[0])
    np.testing.assert_allclose(e_all, 0.5 * 0.01, rtol=1e-4)
    e_masked = float(flow.warp_error(noisy, x, f, m.at[:, :, :5].set(0.0))[0])
    assert e_masked < 1e-12
