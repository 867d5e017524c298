"""Output-space temporal coherence for any per-frame stylizer (`styljax.video.blend`), here the
arbitrary-style net with random weights on small synthetic clips with exact flow."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.data

from styljax.nets import arbitrary as ar
from styljax.video import blend, flow, synthetic


@pytest.fixture(scope="module")
def stylizer():
    cfg = ar.ArbitraryConfig()
    params = ar.init(jax.random.key(0), cfg)
    v = jax.random.normal(jax.random.key(1), (100,))
    return lambda x: ar.stylize(params, x, v, cfg)


def _clip(n=5, size=48):
    imgs = [skimage.data.astronaut().astype(np.float32) / 255, skimage.data.coffee().astype(np.float32) / 255]
    motion = synthetic.MotionConfig(static_prob=0.0, n_objects=(1, 1))
    return synthetic.make_clip(imgs[0], imgs[1:], n, size, np.random.default_rng(0), motion)


def _coherent(stylize, frames, flows, traceable):
    outs, prev_in, prev_out = [], None, None
    for t, x in enumerate(frames):
        fresh = stylize(x)
        out = fresh
        if prev_out is not None:
            mask = traceable[t] * blend.same_input(prev_in, x, flows[t])
            out = blend.compose(prev_out, fresh, flows[t], mask)
        outs.append(out)
        prev_in, prev_out = x, out
    return outs


def _warp_error(outs, flows, traceable):
    return float(np.mean([flow.warp_error(outs[t], outs[t - 1], flows[t], traceable[t])[0]
                          for t in range(1, len(outs))]))


def test_moving_clip_warp_error_at_most_half_of_per_frame(stylizer):
    c = _clip()
    frames = [jnp.asarray(f)[None] for f in c["frames"]]
    flows = [jnp.asarray(f)[None] for f in c["flow"]]
    traceable = [jnp.asarray(m)[None] for m in c["traceable"]]
    per_frame = [stylizer(x) for x in frames]
    coherent = _coherent(stylizer, frames, flows, traceable)
    e_per, e_coh = _warp_error(per_frame, flows, traceable), _warp_error(coherent, flows, traceable)
    assert e_per > 1e-4 and e_coh <= 0.5 * e_per
    # not a frozen first frame: pixels entering the view or uncovered are stylized fresh
    assert float(jnp.abs(coherent[-1] - per_frame[-1]).max()) < 1.0 and len(coherent) == len(frames)


def test_still_scene_gives_identical_frames(stylizer):
    x = jnp.asarray(skimage.data.chelsea()[::8, ::8].astype(np.float32) / 255)[None]
    zero = jnp.zeros(x.shape[:3] + (2,))
    prev = stylizer(x)
    for _ in range(3):
        mask = blend.reuse_mask(x, x, zero, zero)
        assert float(mask.min()) == 1.0
        out = blend.compose(prev, stylizer(x), zero, mask)
        np.testing.assert_array_equal(np.asarray(out), np.asarray(prev))
        prev = out


def test_changed_pixels_are_stylized_fresh(stylizer):
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.random((1, 24, 24, 3), np.float32))
    b = a.at[:, :12].set(1.0 - a[:, :12])  # the top half changes, the bottom half does not
    zero = jnp.zeros((1, 24, 24, 2))
    mask = np.asarray(blend.reuse_mask(a, b, zero, zero))
    assert mask[0, :12].max() == 0.0 and mask[0, 12:].min() == 1.0
    out = np.asarray(blend.compose(stylizer(a), stylizer(b), zero, jnp.asarray(mask)))
    np.testing.assert_array_equal(out[0, :12], np.asarray(stylizer(b))[0, :12])


def test_trace_slack_is_sized_for_the_flow_nets_quarter_resolution():
    """A forward-backward mismatch of 1.5 image px (under half a pixel of the flow net's quarter-
    resolution grid) still traces back under the default slack; Ruder et al.'s β = 0.5 rejects it."""
    x = jnp.asarray(np.random.default_rng(1).random((1, 16, 16, 3), np.float32))
    back = jnp.zeros((1, 16, 16, 2))
    fwd = back.at[..., 0].set(1.5)
    assert float(blend.reuse_mask(x, x, back, fwd).min()) == 1.0
    assert float(blend.reuse_mask(x, x, back, fwd, trace_slack=0.5).max()) == 0.0
    assert float(blend.reuse_mask(x, x, back, back.at[..., 0].set(4.0)).max()) == 0.0
