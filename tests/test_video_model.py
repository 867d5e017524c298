import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax.models import stylebank as sb
from styljax.models import video as vn

SB = sb.StyleBankConfig(channels=(4, 8, 16), output="sigmoid")
NET = vn.VideoNetConfig(flow_channels=(4, 8, 8, 8), mask_channels=(4, 4), correlation=2)
NET0 = vn.VideoNetConfig(flow_channels=(4, 8, 8, 8), mask_channels=(4, 4), correlation=0)  # zero params: zero flow
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
    f0, f1 = (vn.stylised_features(p, bank, frames[t], SB) for t in (0, 1))
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
