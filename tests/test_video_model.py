import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax.video import flow as flow_lib
from styljax.nets import stylebank as sb
from styljax.nets import coherent as vn

SB = sb.StyleBankConfig(channels=(4, 8, 16), output="sigmoid")
# the paper's feature composition (the mask net's M); OUT: the default output composition
NET = vn.VideoNetConfig(flow_channels=(4, 8, 8, 8), mask_channels=(4, 4), correlation=2, composition="feature")
NET0 = vn.VideoNetConfig(flow_channels=(4, 8, 8, 8), mask_channels=(4, 4), correlation=0,
                         composition="feature")  # zero params: zero flow
OUT = dataclasses.replace(NET, composition="output")
HW = (30, 45)  # not multiples of 4 or 16


def _frames(t, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(size=(t, 1) + HW + (3,)).astype(np.float32))


@pytest.fixture(scope="module")
def models():
    p = sb.init(jax.random.key(0), SB, ["a", "b"])
    p["banks"]["b"] = jax.tree.map(lambda x: x + 0.05, p["banks"]["b"])
    return p, vn.init(jax.random.key(1), NET, SB.features)


def _with_mask(logit: float):
    """A `NET0` Net₁ whose mask is the constant σ(logit) and whose flow is 0 (all params zero)."""
    net = jax.tree.map(jnp.zeros_like, vn.init(jax.random.key(2), NET0, SB.features))
    net["mask"]["conv3"]["bias"] = jnp.full((1,), logit)
    return net


def test_flow_and_mask_shapes_at_feature_resolution(models):
    _, net = models
    f = _frames(2)
    w = vn.predict_flow(net, f[0], f[1], NET)
    assert w.shape == (1, 8, 12, 2) and w.dtype == jnp.float32
    m = vn.predict_mask(net, jnp.ones((1, 8, 12, 16)), jnp.zeros((1, 8, 12, 16)), NET)
    assert m.shape == (1, 8, 12, 1) and float(m.min()) >= 0 and float(m.max()) <= 1


def test_first_frame_is_plain_stylebank_and_stream_equals_scan(models):
    p, net = models
    frames = _frames(4)
    outs, aux = vn.stylize_clip(net, p, p["banks"]["a"], frames, SB, NET)
    per = vn.stylize_per_frame(p, p["banks"]["a"], frames, SB)
    np.testing.assert_array_equal(np.asarray(outs[0]), np.asarray(per[0]))
    assert float(aux["mask"][0].max()) == 0.0 and float(aux["mask"][1].min()) > 0.0
    assert float(jnp.abs(outs[1] - per[1]).max()) > 1e-3  # later frames are composited
    state = vn.init_stream(frames.shape[1:], SB.features)
    for t in range(frames.shape[0]):
        state, o, _ = vn.stream_step(net, p, p["banks"]["a"], state, frames[t], SB, NET)
        np.testing.assert_allclose(np.asarray(o), np.asarray(outs[t]), atol=1e-5)


def test_mask_zero_gives_per_frame_and_mask_one_propagates_the_composite(models):
    p, _ = models
    frames = _frames(4, seed=3)
    bank = p["banks"]["b"]
    per = vn.stylize_per_frame(p, bank, frames, SB)
    off, _ = vn.stylize_clip(_with_mask(-40.0), p, bank, frames, SB, NET0)
    np.testing.assert_allclose(np.asarray(off), np.asarray(per), atol=1e-5)
    # M = 1 with zero flow: F^o_t = F^o_{t-1} = ... = F_1, the first frame's output forever,
    # although every input frame differs (the composite, not F_{t-1}, is propagated)
    on, _ = vn.stylize_clip(_with_mask(40.0), p, bank, frames, SB, NET0)
    for t in range(1, 4):
        np.testing.assert_allclose(np.asarray(on[t]), np.asarray(per[0]), atol=1e-5)
        assert float(jnp.abs(per[t] - per[0]).max()) > 1e-2


def test_half_mask_is_the_average_of_warped_and_current_features(models):
    p, _ = models
    frames = _frames(2, seed=5)
    bank = p["banks"]["a"]
    half = _with_mask(0.0)  # σ(0) = 1/2, flow 0
    outs, _ = vn.stylize_clip(half, p, bank, frames, SB, NET0)
    f0, f1 = (vn.stylized_features(p, bank, frames[t], SB) for t in (0, 1))
    want = sb.decode(p, 0.5 * (f0 + f1), SB, HW)
    np.testing.assert_allclose(np.asarray(outs[1]), np.clip(np.asarray(want), 0, 1), atol=1e-5)


def test_any_bank_and_fused_banks(models):
    p, net = models
    frames = _frames(3, seed=7)
    fused = sb.fuse_linear(p["banks"], {"a": 0.5, "b": 0.5})
    o_fused, _ = vn.stylize_clip(net, p, fused, frames, SB, NET)
    o_a, _ = vn.stylize_clip(net, p, p["banks"]["a"], frames, SB, NET)
    np.testing.assert_allclose(np.asarray(o_fused[0]), np.asarray(sb.stylize_bank(p, frames[0], fused, SB, clip=True)),
                               atol=1e-5)
    assert float(jnp.abs(o_fused - o_a).max()) > 1e-3


def test_init_params_tree():
    net = vn.init(jax.random.key(0), vn.VideoNetConfig(), 128)
    assert set(net) == {"flow", "mask"}
    assert net["mask"]["conv1"]["kernel"].shape == (3, 3, 128, 32)
    assert net["mask"]["conv3"]["kernel"].shape == (3, 3, 16, 1)
    np.testing.assert_allclose(np.asarray(net["mask"]["conv3"]["bias"]), 0.5)
    assert net["flow"]["conv1"]["kernel"].shape == (7, 7, 6, 24)
    with pytest.raises(ValueError):
        vn.VideoNetConfig(flow_channels=(8, 8))


def test_cost_volume_and_soft_argmax_recover_a_shift():
    f = jax.random.normal(jax.random.key(0), (1, 12, 14, 8))
    cur = jnp.roll(f, (1, -2), axis=(1, 2))  # cur(y, x) = prev(y − 1, x + 2): backward flow (u, v) = (2, −1)
    cost = vn.cost_volume(cur, f, 3)
    assert cost.shape == (1, 12, 14, 49)
    interior = np.asarray(cost)[0, 4:-4, 4:-4]
    assert (interior.argmax(-1) == (-1 + 3) * 7 + (2 + 3)).all()  # dy-major index of (dx=2, dy=-1)
    np.testing.assert_allclose(interior.max(-1), 1.0, atol=1e-5)  # cosine similarity of equal vectors
    w = np.asarray(vn.soft_argmax(cost, 100.0, 3))[0, 4:-4, 4:-4]
    np.testing.assert_allclose(w, np.broadcast_to([2.0, -1.0], w.shape), atol=1e-2)
    # candidates outside the frame never count: a corner pixel's estimate stays inside
    corner = np.asarray(vn.soft_argmax(jnp.zeros((1, 5, 5, 9)), 1.0, 1))[0, 0, 0]
    np.testing.assert_allclose(corner, [0.5, 0.5], atol=1e-6)


def test_fresh_flow_net_predicts_its_base_flow():
    """Prediction convs start at zero: without correlation a fresh net outputs exactly 0 flow."""
    cfg = vn.VideoNetConfig(flow_channels=(4, 8, 8, 8), correlation=0)
    net = vn.init(jax.random.key(0), cfg, 16)
    f = _frames(2)
    np.testing.assert_array_equal(np.asarray(vn.predict_flow(net, f[0], f[1], cfg)), 0.0)


@pytest.mark.parametrize("cfg", [NET, OUT], ids=["feature", "output"])
def test_identical_frames_give_identical_output_frames(models, cfg):
    """A still scene gives a still output, bit for bit, although this random flow net predicts a
    non-zero flow on identical frames (the zero-flow candidate wins there, and warping by 0 and
    compositing equal maps are exact)."""
    p, net = models
    frame = _frames(1, seed=11)[0]
    clip = jnp.stack([frame] * 6)
    assert float(jnp.abs(vn.predict_flow(net, frame, frame, cfg)).max()) > 1e-3
    outs, aux = vn.stylize_clip(net, p, p["banks"]["a"], clip, SB, cfg)
    for t in range(1, 6):
        np.testing.assert_array_equal(np.asarray(outs[t]), np.asarray(outs[0]))
    np.testing.assert_array_equal(np.asarray(aux["flow"][1:]), 0.0)


def test_zero_flow_warp_is_the_identity():
    x = jax.random.uniform(jax.random.key(3), (2,) + HW + (5,))
    np.testing.assert_array_equal(np.asarray(flow_lib.warp(x, jnp.zeros(x.shape[:3] + (2,)))), np.asarray(x))


def test_select_zero_flow_keeps_a_flow_that_explains_the_motion():
    img = jax.random.uniform(jax.random.key(4), (1, 24, 32, 3))
    cur = jnp.roll(img, 2, axis=2)  # cur(x) = img(x − 2): backward flow u = −2
    true = jnp.broadcast_to(jnp.asarray([-2.0, 0.0]), (1, 24, 32, 2))
    w, err = vn.select_zero_flow(img, cur, true, 3)
    np.testing.assert_array_equal(np.asarray(w[:, :, 3:]), np.asarray(true[:, :, 3:]))
    assert float(err[:, :, 3:].max()) < 1e-6
    w, err = vn.select_zero_flow(img, img, true, 3)  # a still pair: the zero flow, error 0
    np.testing.assert_array_equal(np.asarray(w), 0.0)
    np.testing.assert_array_equal(np.asarray(err), 0.0)


def test_output_composition_follows_exact_flow_on_traceable_pixels(models):
    """With exact flow and an oracle mask: O_t = S_t + α c (warp(O_{t−1}) − S_t) exactly; α = 1
    on traceable pixels makes O_t the warped previous output, untraceable ones stay per-frame."""
    p, net = models
    bank = p["banks"]["a"]
    frames = _frames(3, seed=13)
    flows = jnp.broadcast_to(jnp.asarray([1.0, -1.0]), (3, 1) + HW + (2,)).at[0].set(0.0)
    tr = jnp.zeros((3, 1) + HW).at[:, :, :, : HW[1] // 2].set(1.0)
    per = vn.stylize_per_frame(p, bank, frames, SB)
    for alpha in (1.0, 0.5):
        cfg = dataclasses.replace(OUT, blend=alpha)
        outs, aux = vn.stylize_clip(net, p, bank, frames, SB, cfg, flows=flows, traceable=tr)
        for t in (1, 2):
            want = per[t] + alpha * tr[t][..., None] * (flow_lib.warp(outs[t - 1], flows[t]) - per[t])
            np.testing.assert_allclose(np.asarray(outs[t]), np.asarray(want), atol=1e-6)
        np.testing.assert_array_equal(np.asarray(outs[:, :, :, HW[1] // 2 :]), np.asarray(per[:, :, :, HW[1] // 2 :]))


def test_output_composition_with_zero_blend_is_per_frame(models):
    p, net = models
    frames = _frames(3, seed=17)
    outs, _ = vn.stylize_clip(net, p, p["banks"]["b"], frames, SB, dataclasses.replace(OUT, blend=0.0))
    np.testing.assert_array_equal(np.asarray(outs), np.asarray(vn.stylize_per_frame(p, p["banks"]["b"], frames, SB)))


def test_output_composition_stream_equals_scan(models):
    p, net = models
    frames = _frames(3, seed=19)
    cfg = dataclasses.replace(OUT, trace_sigma=10.0)  # c ≈ 1 even on these unrelated random frames
    outs, _ = vn.stylize_clip(net, p, p["banks"]["a"], frames, SB, cfg)
    state = vn.init_stream(frames.shape[1:], SB.features)
    for t in range(3):
        state, o, _ = vn.stream_step(net, p, p["banks"]["a"], state, frames[t], SB, cfg)
        np.testing.assert_allclose(np.asarray(o), np.asarray(outs[t]), atol=1e-5)
    assert float(jnp.abs(outs[2] - vn.stylize_per_frame(p, p["banks"]["a"], frames, SB)[2]).max()) > 1e-4


def test_config_rejects_bad_composition():
    with pytest.raises(ValueError):
        vn.VideoNetConfig(composition="pixels")
    with pytest.raises(ValueError):
        vn.VideoNetConfig(blend=1.5)
    with pytest.raises(ValueError):
        vn.VideoNetConfig(trace_window=4)


def test_box_mean_averages_the_part_of_the_box_inside_the_image():
    x = jax.random.uniform(jax.random.key(5), (1, 7, 9, 2))
    b, xn = np.asarray(vn.box_mean(x, 5)), np.asarray(x)
    np.testing.assert_allclose(b[0, 0, 0], xn[0, :3, :3].mean((0, 1)), rtol=1e-5)
    np.testing.assert_allclose(b[0, 3, 4], xn[0, 1:6, 2:7].mean((0, 1)), rtol=1e-5)
    # the last block is edge-padded (rows 4, 5, 6, 6 of column 8), as the encoder pads its input
    np.testing.assert_allclose(np.asarray(vn.block_mean(x, 4))[0, 1, 2], xn[0, [4, 5, 6, 6], 8].mean(0), rtol=1e-5)
