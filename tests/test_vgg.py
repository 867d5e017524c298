import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax.nets import vgg


@pytest.fixture(scope="module")
def w16():
    return vgg.random_weights(16, jax.random.key(1))


def test_layer_names():
    assert vgg.relu_names(16)[-1] == "relu5_3" and len(vgg.relu_names(16)) == 13
    assert vgg.relu_names(19)[-1] == "relu5_4" and len(vgg.relu_names(19)) == 16
    with pytest.raises(ValueError):
        vgg.conv_names(11)


@pytest.mark.parametrize("depth", [16, 19])
def test_output_shapes_every_layer(depth):
    w = vgg.random_weights(depth, jax.random.key(0))
    x = jax.random.uniform(jax.random.key(2), (2, 40, 56, 3))
    out = vgg.features(w, x, vgg.relu_names(depth))
    assert list(out) == list(vgg.relu_names(depth))
    for name, f in out.items():
        block = int(name[4])
        stride = 2 ** (block - 1)
        assert f.shape == (2, 40 // stride, 56 // stride, vgg.CHANNELS[block - 1]), name
        assert bool(jnp.all(f >= 0))  # post-ReLU


def test_odd_sizes_floor_like_caffe(w16):
    out = vgg.features(w16, jnp.ones((1, 37, 45, 3)) * 0.5, ["relu5_1"])
    assert out["relu5_1"].shape == (1, 2, 2, 512)


def test_computes_only_up_to_deepest_layer(w16):
    """Params beyond the deepest requested layer are never touched: removing them still works."""
    shallow = {k: v for k, v in w16.params.items() if k in ("conv1_1", "conv1_2", "conv2_1")}
    x = jax.random.uniform(jax.random.key(3), (1, 16, 16, 3))
    out = w16.model().apply({"params": shallow}, x, ["relu1_2", "relu2_1"])
    full = vgg.features(w16, x, ["relu1_2", "relu2_1"])
    assert set(out) == {"relu1_2", "relu2_1"}
    np.testing.assert_allclose(out["relu2_1"], full["relu2_1"], rtol=1e-6)
    with pytest.raises(Exception):
        w16.model().apply({"params": shallow}, x, ["relu2_2"])


def test_avg_vs_max_pooling(w16):
    x = jax.random.uniform(jax.random.key(4), (1, 16, 16, 3))
    relu1 = vgg.features(w16, x, ["relu1_2"])["relu1_2"]
    mx = vgg.features(w16, x, ["relu2_1"], pooling="max")["relu2_1"]
    av = vgg.features(w16, x, ["relu2_1"], pooling="avg")["relu2_1"]
    assert not np.allclose(mx, av)
    # check the pooled input by hand through conv2_1
    import flax.linen as nn

    conv = nn.Conv(128, (3, 3), padding="SAME")
    for pool, got in (
        (relu1.reshape(1, 8, 2, 8, 2, 64).max(axis=(2, 4)), mx),
        (relu1.reshape(1, 8, 2, 8, 2, 64).mean(axis=(2, 4)), av),
    ):
        want = nn.relu(conv.apply({"params": w16.params["conv2_1"]}, pool))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError):
        vgg.features(w16, x, ["relu1_1"], pooling="median")


def test_input_conventions():
    rgb = jnp.asarray([[[0.2, 0.5, 1.0]]])
    caffe = vgg.preprocess(rgb, vgg.CAFFE)
    np.testing.assert_allclose(caffe[0, 0], [255 - 103.939, 127.5 - 116.779, 51 - 123.68], rtol=1e-5)
    torch = vgg.preprocess(rgb, vgg.TORCH)
    np.testing.assert_allclose(
        torch[0, 0], [(0.2 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (1.0 - 0.406) / 0.225], rtol=1e-5
    )


def test_convention_changes_first_layer_input(w16):
    """Same kernel, BGR vs RGB convention: equal only if the first kernel is flipped accordingly."""
    x = jax.random.uniform(jax.random.key(5), (1, 8, 8, 3))
    bgr = vgg.VggWeights(w16.params, 16, vgg.InputConvention("t", "bgr", 1.0, (0, 0, 0)))
    flipped = jax.tree.map(lambda a: a, w16.params)
    flipped["conv1_1"] = {**w16.params["conv1_1"], "kernel": w16.params["conv1_1"]["kernel"][:, :, ::-1, :]}
    rgb = vgg.VggWeights(flipped, 16, vgg.InputConvention("t", "rgb", 1.0, (0, 0, 0)))
    np.testing.assert_allclose(
        vgg.features(bgr, x, ["relu1_1"])["relu1_1"], vgg.features(rgb, x, ["relu1_1"])["relu1_1"], rtol=1e-5, atol=1e-6
    )


def test_batch_equals_single_and_jit(w16):
    x = jax.random.uniform(jax.random.key(6), (3, 24, 24, 3))
    fn = jax.jit(w16.extractor(["relu3_1"]))
    batched = fn(w16.params, x)["relu3_1"]
    for i in range(3):
        np.testing.assert_allclose(batched[i], fn(w16.params, x[i : i + 1])["relu3_1"][0], rtol=1e-4, atol=2e-4)


def test_unknown_layer_rejected(w16):
    with pytest.raises(ValueError, match="relu5_4"):
        vgg.features(w16, jnp.zeros((1, 32, 32, 3)), ["relu5_4"])


def test_bfloat16_compute(w16):
    x = jax.random.uniform(jax.random.key(7), (1, 16, 16, 3))
    f32 = vgg.features(w16, x, ["relu2_2"])["relu2_2"]
    bf16 = vgg.features(w16, x, ["relu2_2"], dtype=jnp.bfloat16)["relu2_2"]
    assert bf16.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(bf16, np.float32), f32, rtol=0.1, atol=0.05 * float(jnp.abs(f32).max()))


@pytest.mark.parametrize("start,end", [("relu1_2", "relu2_1"), ("relu2_1", "relu4_1"), ("relu3_1", "relu5_1")])
def test_subnetwork_from_start_layer_equals_full_trunk(w16, start, end):
    """VGG_{start→end}(F_start) == F_end: the piece Deep Image Analogy's deconvolution inverts."""
    x = jax.random.uniform(jax.random.key(8), (1, 32, 32, 3))
    full = vgg.features(w16, x, [start, end])
    part = w16.extractor([end], start=start)(w16.params, full[start])
    np.testing.assert_allclose(part[end], full[end], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="after start"):
        w16.extractor([start], start=end)(w16.params, full[end])


def test_conv3x3_equals_lax_conv_values_and_both_gradients():
    """The custom-VJP conv is the plain SAME conv: same outputs, same input and kernel gradients,
    also when differentiated inside a while loop (where its input gradient takes another path)."""
    kx, kk, kg = jax.random.split(jax.random.key(3), 3)
    x = jax.random.normal(kx, (2, 7, 9, 5))
    kernel = jax.random.normal(kk, (3, 3, 5, 4))
    target = jax.random.normal(kg, (2, 7, 9, 4))

    def plain(x, k):
        return jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def loss(conv, x, k):
        return jnp.sum(jnp.sin(conv(x, k)) * target)

    np.testing.assert_allclose(vgg.conv3x3(x, kernel), plain(x, kernel), rtol=1e-5, atol=1e-5)
    got = jax.grad(lambda x, k: loss(vgg.conv3x3, x, k), argnums=(0, 1))(x, kernel)
    want = jax.grad(lambda x, k: loss(plain, x, k), argnums=(0, 1))(x, kernel)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)

    def descend(conv):
        step = lambda i, x: x - 0.01 * jax.grad(lambda x: loss(conv, x, kernel))(x)
        return jax.jit(lambda x: jax.lax.fori_loop(0, 3, step, x))(x)

    np.testing.assert_allclose(descend(vgg.conv3x3), descend(plain), rtol=1e-4, atol=1e-4)


def test_precomputed_transposed_kernels_give_the_same_features_and_input_gradient(w16):
    """`with_transposed_kernels` only moves work out of the step: each conv's "kernel_t" is
    flip_hw(K)ᵀ_io, and features and the input gradient are bit-identical with and without it."""
    params_t = vgg.with_transposed_kernels(w16.params)
    k = w16.params["conv2_1"]["kernel"]
    np.testing.assert_array_equal(params_t["conv2_1"]["kernel_t"], np.flip(np.asarray(k), (0, 1)).swapaxes(2, 3))
    extract = w16.extractor(["relu1_2", "relu3_1"])
    x = jax.random.uniform(jax.random.key(5), (2, 20, 24, 3))

    def loss(params, x):
        f = extract(params, x)
        return jnp.sum(f["relu1_2"] ** 2) + jnp.sum(jnp.sin(f["relu3_1"]))

    plain = jax.jit(jax.value_and_grad(loss, argnums=1))(w16.params, x)
    pre = jax.jit(jax.value_and_grad(loss, argnums=1))(params_t, x)
    np.testing.assert_array_equal(pre[0], plain[0])
    np.testing.assert_array_equal(pre[1], plain[1])


@pytest.mark.parametrize("hw", [(8, 10), (9, 7)])
def test_max_pool_2x2_equals_flax_values_and_gradient_with_ties(hw):
    """The custom VJP sends each window's gradient to its first maximum, as select_and_scatter
    does, also where a window holds several equal maxima (flat image regions)."""
    import flax.linen as nn

    from styljax.nets.vgg import max_pool_2x2

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.integers(0, 3, (2, *hw, 3)).astype(np.float32))  # many ties
    g = jnp.asarray(rng.normal(size=(2, hw[0] // 2, hw[1] // 2, 3)).astype(np.float32))

    def ref(x):
        return nn.max_pool(x, (2, 2), strides=(2, 2))

    np.testing.assert_array_equal(max_pool_2x2(x), ref(x))
    got = jax.grad(lambda x: jnp.sum(max_pool_2x2(x) * g))(x)
    want = jax.grad(lambda x: jnp.sum(ref(x) * g))(x)
    np.testing.assert_array_equal(got, want)
