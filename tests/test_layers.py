import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax.nets import layers as L


def _rand(seed, shape):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def _reference(x, kernel, bias, stride):
    """Literal definition: jnp.pad(reflect) + VALID conv."""
    p = kernel.shape[0] // 2
    xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
    y = jax.lax.conv_general_dilated(xp, kernel, (stride, stride), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + bias


@pytest.mark.parametrize("hw", [(17, 19), (16, 21)])  # odd/odd and even/odd H, W
@pytest.mark.parametrize("k", [3, 9])
@pytest.mark.parametrize("stride", [1, 2])
def test_reflect_conv_equals_pad_valid_reference(hw, k, stride):
    x = _rand(0, (2, *hw, 3))
    w = _rand(1, (k, k, 3, 4))
    b = _rand(2, (4,))
    ref, fast, valid = jax.jit(
        lambda x, w, b: (_reference(x, w, b, stride), L.reflect_conv(x, w, b, stride), L.reflect_conv(x, w, b, stride, "valid"))
    )(x, w, b)
    assert fast.shape == ref.shape == (2, -(-hw[0] // stride), -(-hw[1] // stride), 4)
    # the 9×9 RGB-input form sums its 243 taps in another order: float rounding only
    np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(valid, ref, rtol=1e-6, atol=1e-6)


def test_fast_plan_covers_many_sizes():
    for n in range(5, 70):
        for k in (1, 3, 5, 7, 9):
            for s in (1, 2, 3):
                a, b, start, out = L._fast_plan(n, k, s)
                assert 0 <= a < s and 0 <= b < s and out == -(-n // s) and start >= 0


def test_reflect_conv_module_and_methods_agree():
    x = _rand(3, (1, 15, 18, 5))
    fast = L.ReflectConv(7, 3, stride=2)
    slow = L.ReflectConv(7, 3, stride=2, method="valid")
    params = fast.lazy_init(jax.random.key(0), x)
    assert params["params"]["kernel"].shape == (3, 3, 5, 7) and params["params"]["bias"].shape == (7,)
    a, b = jax.jit(lambda p, x: (fast.apply(p, x), slow.apply(p, x)))(params, x)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    nobias = L.ReflectConv(7, 3, use_bias=False).lazy_init(jax.random.key(0), x)["params"]
    assert set(nobias) == {"kernel"}


def test_reflect_conv_rejects_even_kernel():
    with pytest.raises(ValueError):
        L.reflect_conv(jnp.zeros((1, 8, 8, 1)), jnp.zeros((4, 4, 1, 1)))


@pytest.mark.parametrize("stride", [1, 2])
def test_reflect_conv_matches_torch(stride):
    torch = pytest.importorskip("torch")
    x = np.asarray(_rand(4, (1, 11, 14, 3)))
    w = np.asarray(_rand(5, (9, 9, 3, 2)))
    b = np.asarray(_rand(6, (2,)))
    conv = torch.nn.Conv2d(3, 2, 9, stride=stride, padding=4, padding_mode="reflect")
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))))
        conv.bias.copy_(torch.tensor(b))
        ref = conv(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(L.reflect_conv(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b), stride), ref, atol=1e-4)


def test_instance_norm_matches_flax_and_torch():
    x = _rand(7, (2, 9, 10, 6)) * 3.0 + 1.5
    mod = L.InstanceNorm()
    params = {"params": {"scale": _rand(8, (6,)), "bias": _rand(9, (6,))}}
    flax_in = nn.InstanceNorm(epsilon=1e-5, use_fast_variance=False)
    y, flax_y, z = jax.jit(lambda p, x: (mod.apply(p, x), flax_in.apply(p, x), L.instance_norm(x)))(params, x)
    np.testing.assert_allclose(y, flax_y, rtol=1e-5, atol=1e-5)
    # per image and channel: zero mean, unit variance before the affine
    z = np.asarray(z)
    np.testing.assert_allclose(z.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.var(axis=(1, 2)), 1.0, atol=1e-3)
    torch = pytest.importorskip("torch")
    tn = torch.nn.InstanceNorm2d(6, eps=1e-5, affine=True)
    with torch.no_grad():
        tn.weight.copy_(torch.tensor(np.asarray(params["params"]["scale"])))
        tn.bias.copy_(torch.tensor(np.asarray(params["params"]["bias"])))
        ref = tn(torch.tensor(np.asarray(x).transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_upsample_nearest_2x_repeats_pixels():
    x = _rand(10, (1, 5, 7, 4))
    np.testing.assert_array_equal(L.upsample_nearest_2x(x), np.repeat(np.repeat(np.asarray(x), 2, axis=1), 2, axis=2))


@pytest.mark.parametrize("upsample,stride,out_hw", [(False, 1, (9, 11)), (False, 2, (5, 6)), (True, 1, (18, 22))])
def test_conv_in_relu(upsample, stride, out_hw):
    x = _rand(11, (2, 9, 11, 3))
    mod = L.ConvINReLU(8, 3, stride, upsample=upsample)
    params = mod.lazy_init(jax.random.key(0), x)
    assert set(params["params"]) == {"conv", "norm"} and set(params["params"]["conv"]) == {"kernel"}
    y = np.asarray(jax.jit(mod.apply)(params, x))
    assert y.shape == (2, *out_hw, 8) and (y >= 0).all()


def test_bfloat16_compute():
    x = _rand(12, (1, 8, 8, 3))
    mod = L.ConvINReLU(4, 3, dtype=jnp.bfloat16)
    params = mod.lazy_init(jax.random.key(0), x)
    assert jax.tree.leaves(params)[0].dtype == jnp.float32
    assert jax.jit(mod.apply)(params, x).dtype == jnp.bfloat16


@pytest.mark.parametrize("cin,cout,k", [(3, 8, 9), (8, 3, 9), (6, 5, 3)])  # thin input, thin output, plain
def test_reflect_conv_gradients_equal_reference(cin, cout, k):
    """The fast forms chosen per layer shape (and their custom VJP) differentiate like the literal
    pad + VALID definition."""
    x, w, b = _rand(0, (2, 13, 16, cin)), _rand(1, (k, k, cin, cout)), _rand(2, (cout,))
    g = _rand(3, (2, 13, 16, cout))

    def grads(f):
        return jax.jit(jax.grad(lambda x, w: jnp.sum(f(x, w) * g), argnums=(0, 1)))(x, w)

    (gx, gw), (rx, rw) = grads(lambda x, w: L.reflect_conv(x, w, b)), grads(lambda x, w: _reference(x, w, b, 1))
    np.testing.assert_allclose(gx, rx, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(gw, rw, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("hw", [(5, 7), (8, 8)])
def test_upsample_reflect_conv_equals_upsample_then_conv(hw):
    x, w = _rand(0, (2, *hw, 6)), _rand(1, (3, 3, 6, 5))
    g = _rand(2, (2, 2 * hw[0], 2 * hw[1], 5))

    def ref(x, w):
        return _reference(L.upsample_nearest_2x(x), w, 0.0, 1)

    np.testing.assert_allclose(L.upsample_reflect_conv(x, w), ref(x, w), rtol=1e-5, atol=1e-4)
    vjp = jax.grad(lambda x, w: jnp.sum(L.upsample_reflect_conv(x, w) * g), argnums=(0, 1))(x, w)
    rvjp = jax.grad(lambda x, w: jnp.sum(ref(x, w) * g), argnums=(0, 1))(x, w)
    for a, r in zip(vjp, rvjp):
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-3)
    mod = L.ReflectConv(5, 3, upsample=True)
    p = mod.lazy_init(jax.random.key(0), x)
    slow = L.ReflectConv(5, 3, upsample=True, method="valid")
    np.testing.assert_allclose(mod.apply(p, x), slow.apply(p, x), rtol=1e-5, atol=1e-4)
