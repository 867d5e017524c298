import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax.losses import feature_losses


def _feats(key, shape=(2, 6, 5, 4)):
    return jax.random.normal(jax.random.key(key), shape)


@pytest.mark.parametrize("norm,div", [("chw", lambda c, n: c * n), ("hw", lambda c, n: n), ("gatys", lambda c, n: 1)])
def test_gram_values(norm, div):
    f = _feats(0)
    b, h, w, c = f.shape
    got = feature_losses.gram(f, norm)
    for i in range(b):
        m = np.asarray(f[i]).reshape(h * w, c)
        np.testing.assert_allclose(got[i], m.T @ m / div(c, h * w), rtol=1e-5, atol=1e-6)


def test_gram_rejects_unknown_norm():
    with pytest.raises(ValueError, match="gram norm"):
        feature_losses.gram(_feats(0), "frobenius")


def test_masked_gram_equals_gram_of_region():
    f = _feats(1)
    mask = jnp.zeros((6, 5)).at[:3].set(1.0)
    for norm in feature_losses.GRAM_NORMS:
        np.testing.assert_allclose(feature_losses.gram(f, norm, mask), feature_losses.gram(f[:, :3], norm), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feature_losses.gram(f, "chw", jnp.ones((6, 5))), feature_losses.gram(f, "chw"), rtol=1e-6)


def test_gatys_layer_loss_matches_paper_formula():
    f, t = _feats(2, (1, 4, 4, 3)), _feats(3, (1, 4, 4, 3))
    g, a = feature_losses.gram(f, "gatys"), feature_losses.gram(t, "gatys")[0]
    n, m = 3, 16
    want = np.sum((np.asarray(g[0]) - np.asarray(a)) ** 2) / (4 * n**2 * m**2)
    got = feature_losses.style_loss({"x": f}, {"x": a}, {"x": 1.0}, "gatys")
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_style_loss_zero_at_target_and_positive_elsewhere():
    f = {"a": _feats(4), "b": _feats(5, (2, 3, 3, 8))}
    targets = {k: feature_losses.gram(v, "chw") for k, v in f.items()}
    assert float(feature_losses.style_loss(f, targets, {"a": 1.0, "b": 2.0})) == pytest.approx(0.0, abs=1e-10)
    other = {k: v * 1.5 for k, v in f.items()}
    assert float(feature_losses.style_loss(other, targets, {"a": 1.0, "b": 2.0})) > 1e-3


def test_style_loss_weights_and_batch_broadcast():
    f = {"a": _feats(6)}
    target = feature_losses.gram(_feats(7, (1, 6, 5, 4)), "chw")[0]  # (C, C) shared by the batch
    one = feature_losses.style_loss(f, {"a": target}, {"a": 1.0})
    three = feature_losses.style_loss(f, {"a": target}, {"a": 3.0})
    np.testing.assert_allclose(three, 3 * one, rtol=1e-6)
    per_image = [feature_losses.style_loss({"a": f["a"][i : i + 1]}, {"a": target}, {"a": 1.0}) for i in range(2)]
    np.testing.assert_allclose(one, np.mean(per_image), rtol=1e-5)


def test_content_loss_is_weighted_mse():
    f, t = _feats(8), _feats(9)
    got = feature_losses.content_loss({"x": f}, {"x": t}, {"x": 2.0})
    np.testing.assert_allclose(got, 2.0 * np.mean((np.asarray(f) - np.asarray(t)) ** 2), rtol=1e-5)


def test_tv_loss():
    assert float(feature_losses.tv_loss(jnp.full((2, 8, 8, 3), 0.3))) == 0.0
    ramp = jnp.broadcast_to(jnp.arange(8.0)[None, None, :, None] * 0.1, (1, 8, 8, 3))  # dx = 0.1, dy = 0
    np.testing.assert_allclose(feature_losses.tv_loss(ramp), 0.01, rtol=1e-5)


def test_region_style_loss_single_full_region_equals_plain():
    f = {"a": _feats(10, (1, 8, 8, 4))}
    style = {"a": _feats(11, (1, 8, 8, 4))}
    masks = jnp.ones((1, 1, 32, 32))
    targets = feature_losses.region_grams(style, masks)
    plain = feature_losses.style_loss(f, {"a": feature_losses.gram(style["a"])}, {"a": 1.0})
    region = feature_losses.region_style_loss(f, targets, masks, {"a": 1.0})
    np.testing.assert_allclose(region, plain, rtol=1e-5)


def test_region_style_loss_only_sees_its_region():
    """Changing features outside every region's support leaves the loss unchanged."""
    f = _feats(12, (1, 8, 8, 4))
    masks = jnp.zeros((1, 1, 8, 8)).at[..., :4, :].set(1.0)
    targets = feature_losses.region_grams({"a": _feats(13, (1, 8, 8, 4))}, masks)
    base = feature_losses.region_style_loss({"a": f}, targets, masks, {"a": 1.0})
    changed = f.at[:, 5:].set(100.0)
    np.testing.assert_allclose(feature_losses.region_style_loss({"a": changed}, targets, masks, {"a": 1.0}), base, rtol=1e-6)
    changed_in = f.at[:, :2].set(100.0)
    assert float(feature_losses.region_style_loss({"a": changed_in}, targets, masks, {"a": 1.0})) > 10 * float(base)


def test_losses_jit_and_grad():
    f = _feats(14)
    target = feature_losses.gram(_feats(15), "hw")

    @jax.jit
    def total(x):
        return feature_losses.style_loss({"a": x}, {"a": target}, {"a": 1.0}, "hw") + feature_losses.tv_loss(x)

    g = jax.grad(total)(f)
    assert g.shape == f.shape and bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).sum()) > 0


def test_gram_gradient_equals_autodiff_of_einsum():
    f = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 6, 4)).astype(np.float32))
    w = jnp.asarray(np.random.default_rng(1).normal(size=(2, 4, 4)).astype(np.float32))

    def plain(f):
        x = f.reshape(2, 30, 4)
        return jnp.einsum("bnc,bnd->bcd", x, x) / (4 * 30)

    np.testing.assert_allclose(feature_losses.gram(f), plain(f), rtol=1e-6)
    np.testing.assert_allclose(
        jax.grad(lambda f: jnp.sum(feature_losses.gram(f) * w))(f), jax.grad(lambda f: jnp.sum(plain(f) * w))(f), rtol=1e-5, atol=1e-6
    )
