"""Ruder et al. 2016 (`styljax.optimization.ruder`): the traceable mask, the temporal term, the online loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax.video import flow as flow_lib
from styljax.nets import vgg
from styljax.optimization import gatys, ruder


@pytest.fixture(scope="module")
def weights():
    return vgg.random_weights(16, jax.random.key(0))


def test_traceable_mask_drops_inconsistent_pixels_and_motion_boundaries():
    h, w = 16, 20
    back = jnp.zeros((1, h, w, 2)).at[:, :, 10:, 0].set(-3.0)  # right half moved 3 px right: a motion boundary
    fwd = jnp.zeros((1, h, w, 2)).at[:, :, 7:, 0].set(3.0)  # frame t−1's flow, consistent with it
    c = np.asarray(ruder.traceable_mask(back, fwd))[0]
    assert c[:, :7].min() == 1.0 and c[:, 12:].min() == 1.0  # consistent, smooth: traceable
    assert c[:, 7:10].max() == 0.0  # dis-occluded: uncovered by the moving half
    assert c[:, 10].max() == 0.0  # the flow's discontinuity (consistent there, but a motion boundary)
    # a forward flow that does not undo the backward one: nothing is traceable there
    bad = np.asarray(ruder.traceable_mask(back, jnp.zeros_like(fwd)))[0]
    assert bad[:, 12:].max() == 0.0 and bad[:, :7].min() == 1.0


def test_temporal_term_is_weighted_masked_mse_and_adds_to_gatys(weights):
    cfg = ruder.RuderConfig(gatys=gatys.GatysConfig(sizes=(32,), steps=(1,)), temporal_weight=7.0)
    targets_fn, loss_fn = ruder.make_loss(weights, cfg)
    g_targets, g_loss = gatys.make_loss(weights, cfg.gatys)
    rng = np.random.default_rng(0)
    content, style, x, warped = (jnp.asarray(rng.uniform(size=(24, 32, 3)), jnp.float32) for _ in range(4))
    mask = jnp.zeros((24, 32)).at[:, :16].set(1.0)
    t = targets_fn(weights.params, content, [style], np.ones(1, np.float32), warped, mask)
    total, parts = loss_fn(weights.params, t, x)
    want = 7.0 * float(jnp.mean(mask[..., None] * jnp.square(x - warped)))
    np.testing.assert_allclose(float(parts["temporal"]), want, rtol=1e-5)
    g_total, _ = g_loss(weights.params, g_targets(weights.params, content, [style], np.ones(1, np.float32)), x)
    np.testing.assert_allclose(float(total), float(g_total) + want, rtol=1e-5)
    # the temporal gradient lives on traceable pixels only
    grad = jax.grad(lambda y: loss_fn(weights.params, t, y)[0] - g_loss(weights.params, t["gatys"], y)[0])(x)
    assert float(jnp.abs(grad[:, 16:]).max()) < 1e-6 and float(jnp.abs(grad[:, :16]).max()) > 0


def test_online_loop_starts_later_frames_from_the_warped_output(weights):
    """One frame in, one out; with a huge temporal weight and 1 step, frame 2 stays at the previous
    output warped by the flow (its initialisation) on traceable pixels."""
    rng = np.random.default_rng(1)
    f0 = rng.uniform(size=(24, 32, 3)).astype(np.float32)
    f1 = np.roll(f0, 2, axis=1)
    flow = np.zeros((24, 32, 2), np.float32)
    flow[..., 0] = -2.0
    mask = np.ones((24, 32), np.float32)
    mask[:, :2] = 0.0
    cfg = ruder.RuderConfig(gatys=gatys.GatysConfig(sizes=(32,), steps=(1,), optimizer="adam", learning_rate=0.01),
                            first_steps=3, steps=1, temporal_weight=1e9)
    calls = []

    def flows(prev, cur):
        calls.append((prev, cur))
        return flow, mask

    outs = list(ruder.stylize_frames(weights, iter([f0, f1]), [f0], flows, cfg))
    assert len(outs) == 2 and len(calls) == 1 and np.array_equal(calls[0][0], f0)
    warped = np.asarray(flow_lib.warp(jnp.asarray(outs[0])[None], jnp.asarray(flow)[None]))[0]
    assert np.abs(outs[1][:, 2:] - warped[:, 2:]).max() < 0.02
    assert np.abs(outs[0] - f0).max() > 1e-4  # frame 1 was optimised
