"""Johnson / CIN transform nets: sizes, heads, per-image styles, γ/β interpolation and region mixing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax.nets import transform as tr
from styljax.nets.layers import instance_norm

SMALL = tr.TransformConfig.cin(channels=(4, 8, 8), residual_blocks=1)


def _count(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


@pytest.mark.parametrize("cfg, net, per_style", [
    (tr.TransformConfig.cin(), 1_674_432, 3_206),  # Magenta: 2·ΣC = 2·1603 γ/β floats per style
    (tr.TransformConfig.johnson(), 1_674_435, 3_200),  # + the output conv's bias, no output norm
])
def test_paper_sizes(cfg, net, per_style):
    shapes = jax.eval_shape(lambda: tr.init(jax.random.key(0), cfg, ["a", "b"]))
    assert _count(shapes["net"]) == net
    assert _count(shapes["styles"]["a"]) == per_style
    assert sorted(shapes["styles"]) == ["a", "b"]


@pytest.fixture(scope="module")
def params():
    p = tr.init(jax.random.key(0), SMALL, ["a", "b", "c"])
    rng = np.random.default_rng(0)  # distinct styles (fresh ones are all γ=1, β=0)
    p["styles"] = jax.tree.map(lambda x: x + jnp.asarray(rng.normal(0, 0.5, x.shape), jnp.float32), p["styles"])
    return p


@pytest.fixture(scope="module")
def images():
    return jax.random.uniform(jax.random.key(1), (2, 22, 30, 3))


def test_output_size_and_heads(params, images):
    out = tr.stylize(params, images, "a", SMALL)
    assert out.shape == images.shape and float(out.min()) > 0 and float(out.max()) < 1  # sigmoid
    jcfg = tr.TransformConfig.johnson(channels=(4, 8, 8), residual_blocks=1)
    jp = tr.init(jax.random.key(2), jcfg, ["x"])
    jp["net"]["out"]["bias"] = jnp.full((3,), 50.0)  # saturate tanh: caffe mean + 150/255
    out = tr.stylize(jp, images, "x", jcfg)
    np.testing.assert_allclose(out[0, 0, 0], np.asarray(tr.CAFFE_MEAN_RGB) + 150 / 255, atol=1e-5)


def test_conditional_instance_norm():
    x = jax.random.normal(jax.random.key(3), (2, 6, 5, 4)) * 3 + 1
    style = {"scale": jnp.ones(4), "bias": jnp.zeros(4)}
    np.testing.assert_allclose(tr.conditional_instance_norm(x, style), instance_norm(x), atol=1e-6)
    per_image = {"scale": jnp.asarray([[1.0, 2, 3, 4], [2, 2, 2, 2]]), "bias": jnp.asarray([[0.0, 1, 0, 0], [5, 5, 5, 5]])}
    y = tr.conditional_instance_norm(x, per_image)
    np.testing.assert_allclose(y.std(axis=(1, 2)), per_image["scale"], rtol=1e-3)
    np.testing.assert_allclose(y.mean(axis=(1, 2)), per_image["bias"], atol=1e-4)


def test_per_image_styles_equal_one_style_at_a_time(params, images):
    stacked = tr.stack_styles(params["styles"], ["a", "b", "c"])
    ids = jnp.asarray([2, 0])
    both = tr.stylize_with(params, images, jax.tree.map(lambda x: x[ids], stacked), SMALL)
    np.testing.assert_allclose(both[0], tr.stylize(params, images[:1], "c", SMALL)[0], atol=1e-5)
    np.testing.assert_allclose(both[1], tr.stylize(params, images[1:], "a", SMALL)[0], atol=1e-5)


def test_render_all_equals_stylize(params, images):
    outs = tr.render_all(params, images, SMALL)
    assert outs.shape == (3,) + images.shape
    for k, n in enumerate(["a", "b", "c"]):
        np.testing.assert_allclose(outs[k], tr.stylize(params, images, n, SMALL), atol=1e-5)


def test_mix_styles(params, images):
    styles = params["styles"]
    only_a = tr.mix_styles(styles, {"a": 1.0, "b": 0.0})
    np.testing.assert_allclose(tr.stylize_with(params, images, only_a, SMALL), tr.stylize(params, images, "a", SMALL), atol=1e-6)
    half = tr.mix_styles(styles, {"a": 1.0, "b": 1.0})  # normalised: 0.5 / 0.5
    np.testing.assert_allclose(half["conv1"]["scale"], (styles["a"]["conv1"]["scale"] + styles["b"]["conv1"]["scale"]) / 2, rtol=1e-6)
    raw = tr.mix_styles(styles, {"a": 1.0, "b": 1.0}, normalize=False)  # Magenta: not renormalised
    np.testing.assert_allclose(raw["up1"]["bias"], styles["a"]["up1"]["bias"] + styles["b"]["up1"]["bias"], rtol=1e-6)
    mid = tr.stylize_with(params, images, half, SMALL)
    a, b = tr.stylize(params, images, "a", SMALL), tr.stylize(params, images, "b", SMALL)
    assert float(jnp.abs(mid - a).mean()) > 1e-3 and float(jnp.abs(mid - b).mean()) > 1e-3
    with pytest.raises(ValueError, match="sum to 0"):
        tr.mix_styles(styles, {"a": 1.0, "b": -1.0})


def test_region_masks(params, images):
    stacked = tr.stack_styles(params["styles"], ["a", "b"])
    b, h, w = images.shape[:3]
    all_b = jnp.zeros((b, 2, h, w)).at[:, 1].set(1.0)
    np.testing.assert_allclose(tr.stylize_with(params, images, stacked, SMALL, masks=all_b),
                               tr.stylize(params, images, "b", SMALL), atol=1e-5)
    left = (jnp.arange(w) < w // 2).astype(jnp.float32)
    halves = jnp.stack([jnp.broadcast_to(left, (b, h, w)), jnp.broadcast_to(1 - left, (b, h, w))], axis=1)
    mixed = tr.stylize_with(params, images, stacked, SMALL, masks=halves)
    a, bb = tr.stylize(params, images, "a", SMALL), tr.stylize(params, images, "b", SMALL)
    # each side is closer to its own style than to the other (IN statistics stay global, so not exact)
    assert float(jnp.abs(mixed - a)[:, :, :4].mean()) < 0.8 * float(jnp.abs(mixed - bb)[:, :, :4].mean())
    assert float(jnp.abs(mixed - bb)[:, :, -4:].mean()) < 0.8 * float(jnp.abs(mixed - a)[:, :, -4:].mean())


def test_config_validation():
    with pytest.raises(ValueError, match="output"):
        tr.TransformConfig(output="relu")
    with pytest.raises(ValueError, match="3 entries"):
        tr.TransformConfig(channels=(8, 16))
    assert tr.TransformConfig.johnson() == tr.TransformConfig.johnson()  # hashable, canonical dtype


def test_per_image_region_styles(params, images):
    """γ/β (B, R, C) with masks: each image its own regions' styles, in one call."""
    left = np.zeros((2, 2) + images.shape[1:3], np.float32)
    left[:, 0, :, :15], left[:, 1, :, 15:] = 1.0, 1.0
    pairs = [["a", "c"], ["b", "a"]]
    styles = jax.tree.map(lambda *xs: jnp.stack(xs), *[tr.stack_styles(params["styles"], pr) for pr in pairs])
    got = tr.stylize_with(params, images, styles, SMALL, masks=jnp.asarray(left))
    for i, pr in enumerate(pairs):
        one = tr.stylize_with(params, images[i : i + 1], tr.stack_styles(params["styles"], pr), SMALL,
                              masks=jnp.asarray(left[i : i + 1]))
        np.testing.assert_allclose(got[i], one[0], atol=1e-5)
    whole = tr.stylize_with(params, images, styles, SMALL, masks=jnp.ones((2, 2) + images.shape[1:3]) * jnp.asarray([1.0, 0.0])[:, None, None])
    np.testing.assert_allclose(whole[1], tr.stylize(params, images[1:], "b", SMALL)[0], atol=1e-5)


def test_restore_tone_moves_tones_to_the_photo_as_strength_falls(params, images):
    import dataclasses

    toned = dataclasses.replace(SMALL, restore_tone=True)
    a, neutral = params["styles"]["a"], params["styles"]["b"]
    zero = np.asarray(tr.stylize_with(params, images, a, toned, strength=jnp.float32(0.0), neutral=neutral))
    np.testing.assert_allclose(zero.mean((1, 2)), np.asarray(images).mean((1, 2)), atol=1e-5)
    plain = np.asarray(tr.stylize_with(params, images, a, SMALL, strength=jnp.float32(1.0), neutral=neutral))
    one = np.asarray(tr.stylize_with(params, images, a, toned, strength=jnp.float32(1.0), neutral=neutral))
    np.testing.assert_allclose(one, plain, atol=1e-6)  # s = 1: the style's own tones
    half = np.asarray(tr.stylize_with(params, images, a, toned, strength=jnp.float32(0.5), neutral=neutral))
    gap = lambda o: np.abs(o.mean((1, 2)) - np.asarray(images).mean((1, 2))).max()  # noqa: E731
    assert gap(zero) < gap(half) < gap(one) or gap(one) < 1e-3


def test_toward_in_moves_only_the_named_norms():
    cfg = tr.TransformConfig.cin(channels=(4, 8, 16), residual_blocks=2)
    key = jax.random.key(3)
    style = jax.tree.map(lambda x: x + jax.random.normal(key, x.shape), tr.init_style(cfg))
    neutral = tr.init_style(cfg)
    half = tr.toward_in(style, neutral, {"res1a": 0.5, "res2a": 0.0})
    np.testing.assert_allclose(half["res1a"]["scale"], 0.5 * style["res1a"]["scale"] + 0.5, rtol=1e-6)
    np.testing.assert_allclose(half["res1a"]["bias"], 0.5 * style["res1a"]["bias"], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(half["res2a"]["scale"], neutral["res2a"]["scale"])  # 0: the neutral's, exactly
    for name in set(style) - {"res1a", "res2a"}:  # every other norm untouched
        assert half[name] is style[name]
    same = tr.toward_in(style, neutral, {"res1a": 1.0})
    np.testing.assert_array_equal(same["res1a"]["bias"], style["res1a"]["bias"])
    with pytest.raises(ValueError, match="no norm"):
        tr.toward_in(style, neutral, {"res9a": 0.5})
