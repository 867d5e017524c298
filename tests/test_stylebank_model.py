import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.core import Literal

from styljax.nets import stylebank as sb
from styljax.nets.layers import reflect_conv
from styljax.nets.strength import restore_tone

SMALL = sb.StyleBankConfig(channels=(4, 8, 16))
NAMES = ("a", "b", "c")
HW = (17, 23)  # odd sizes, not multiples of 4; one shape throughout so jit caches are shared


def _images(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(size=shape).astype(np.float32))


def _perturb(params, seed=1, scale=0.3):
    """Random IN affines and bank biases (init has IN γ=1, β=0 and zero biases, which hides bugs)."""
    rng = np.random.default_rng(seed)

    def f(path, x):
        name = jax.tree_util.keystr(path)
        if "norm" in name or "bias" in name:
            return jnp.asarray(np.asarray(x) + rng.normal(scale=scale, size=x.shape).astype(np.float32))
        return x

    return jax.tree_util.tree_map_with_path(f, params)


@pytest.fixture(scope="module")
def params():
    return _perturb(sb.init(jax.random.key(0), SMALL, NAMES))


def test_default_params_tree():
    cfg = sb.StyleBankConfig()
    p = sb.init(jax.random.key(0), cfg, ["mosaic", "candy"])
    assert set(p) == {"encoder", "decoder", "banks"}
    assert set(p["banks"]) == {"mosaic", "candy"}
    for bank in p["banks"].values():
        assert bank["conv1"]["kernel"].shape == (3, 3, 128, 128)
        assert bank["conv1"]["bias"].shape == (128,)
        assert bank["conv1"]["kernel"].nbytes == 589_824
        assert sb.nbytes(bank) == 589_824 + 512
    # encoder/decoder conv weights: 199,872 (METHODS.md A1); kernels std ~ 1/sqrt(fan_in)
    kernels = [x for path, x in jax.tree_util.tree_leaves_with_path(p) if "kernel" in jax.tree_util.keystr(path)]
    assert sum(k.size for k in kernels) - 2 * 3 * 3 * 128 * 128 == 199_872
    k = p["banks"]["mosaic"]["conv1"]["kernel"]
    assert abs(np.asarray(k).std() * np.sqrt(9 * 128) - 1.0) < 0.05
    assert not np.allclose(k, p["banks"]["candy"]["conv1"]["kernel"])
    # adding a style
    p["banks"]["new"] = sb.init_bank(jax.random.key(5), cfg)
    assert jax.tree.map(jnp.shape, p["banks"]["new"]) == jax.tree.map(jnp.shape, p["banks"]["candy"])


def test_config():
    assert sb.StyleBankConfig().bank_is_affine
    port = sb.StyleBankConfig.port_variant()
    assert port.channels == (32, 64, 128, 256) and port.bank_layers == 2 and port.bank_norm_relu
    assert not port.bank_is_affine
    assert hash(port) == hash(sb.StyleBankConfig.port_variant())
    assert sb.StyleBankConfig().feature_hw((17, 24)) == (5, 6)
    assert sb.StyleBankConfig(dtype="float32") == sb.StyleBankConfig(dtype=jnp.float32) == sb.StyleBankConfig()
    for bad in (dict(channels=(8, 16)), dict(bank_layers=0), dict(bank_kernel=4), dict(output="tanh")):
        with pytest.raises(ValueError):
            sb.StyleBankConfig(**bad)


def test_shapes_odd_sizes(params):
    hw = HW
    x = _images((2, *hw, 3))
    f = sb.encode(params, x, SMALL)
    assert f.shape == (2, -(-hw[0] // 4), -(-hw[1] // 4), 16)
    assert sb.decode(params, f, SMALL).shape == (2, 4 * f.shape[1], 4 * f.shape[2], 3)
    assert sb.stylize(params, x, "b", SMALL).shape == (2, *hw, 3)
    rec = np.asarray(sb.reconstruct(params, x, SMALL, clip=True))
    assert rec.shape == (2, *hw, 3) and rec.min() >= 0.0 and rec.max() <= 1.0
    out = sb.render_all(params, x, SMALL)
    assert out.shape == (3, 2, *hw, 3) and out.dtype == jnp.float32


def test_padding_is_reflect_then_crop(params):
    x = _images((2, *HW, 3))
    padded = jnp.asarray(np.pad(np.asarray(x), ((0, 0), (0, 3), (0, 1), (0, 0)), mode="reflect"))
    np.testing.assert_allclose(
        sb.stylize(params, x, "a", SMALL), sb.stylize(params, padded, "a", SMALL)[:, :17, :23], atol=1e-6
    )


def test_render_all_equals_stylize(params):
    x = _images((2, *HW, 3), seed=3)
    out = sb.render_all(params, x, SMALL)
    for i, name in enumerate(sorted(NAMES)):
        np.testing.assert_allclose(out[i], sb.stylize(params, x, name, SMALL), rtol=1e-5, atol=1e-5)
    sub = sb.render_all(params, x, SMALL, names=["c", "a"])
    np.testing.assert_allclose(sub[0], out[2], rtol=1e-5, atol=1e-5)


def test_fuse_linear_one_hot_is_that_style(params):
    fused = sb.fuse_linear(params["banks"], {"a": 0.0, "b": 1.0, "c": 0.0})
    for x, y in zip(jax.tree.leaves(fused), jax.tree.leaves(params["banks"]["b"])):
        np.testing.assert_array_equal(x, y)
    x = _images((2, *HW, 3))
    np.testing.assert_allclose(
        sb.stylize_bank(params, x, fused, SMALL), sb.stylize(params, x, "b", SMALL), rtol=1e-6, atol=1e-6
    )
    with pytest.raises(ValueError):
        sb.fuse_linear(params["banks"], {"a": 1.0, "b": -1.0})
    with pytest.raises(KeyError):
        sb.fuse_linear(params["banks"], {"zzz": 1.0})


def test_fusing_banks_equals_fusing_outputs(params):
    f = sb.encode(params, _images((2, *HW, 3), seed=4), SMALL)
    raw = {"a": 2.0, "b": 1.0, "c": 1.0}  # normalised to 0.5, 0.25, 0.25
    fused = sb.apply_bank(sb.fuse_linear(params["banks"], raw), f, SMALL)
    expected = sum((w / 4.0) * sb.apply_bank(params["banks"][n], f, SMALL) for n, w in raw.items())
    np.testing.assert_allclose(fused, expected, rtol=1e-5, atol=1e-5)


def test_region_fusion(params):
    f = sb.encode(params, _images((2, *HW, 3), seed=5), SMALL)
    b, h, w, _ = f.shape
    ones = jnp.ones((b, 1, h, w))
    np.testing.assert_allclose(
        sb.fuse_regions(params, f, ones, ["c"], SMALL), sb.apply_bank(params["banks"]["c"], f, SMALL), atol=1e-5
    )
    left = np.zeros((b, h, w), np.float32)
    left[:, :, : w // 2] = 1.0
    masks = jnp.asarray(np.stack([left, 1.0 - left], axis=1))  # (B, 2, h, w)
    got = sb.fuse_regions(params, f, masks, ["a", "b"], SMALL)
    by_hand = 0.0
    for r, name in enumerate(["a", "b"]):
        k = params["banks"][name]["conv1"]
        m = masks[:, r, :, :, None]
        by_hand = by_hand + reflect_conv(m * f, k["kernel"]) + m * k["bias"]  # W_r ⊛ (M_r F) + M_r b_r
    np.testing.assert_allclose(got, by_hand, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        sb.fuse_regions(params, f, masks, ["a"], SMALL)


def test_stylize_regions_is_encode_fuse_decode(params):
    """The one-program region path = encoder, regions (given or K-means), `fuse_regions`, decoder."""
    x = _images((2, *HW, 3), seed=6)
    f = sb.encode(params, x, SMALL)
    left = np.zeros((2, 2, *HW), np.float32)
    left[:, 0, :, :11] = 1.0
    left[:, 1] = 1.0 - left[:, 0]
    for masks, feature_masks in [(jnp.asarray(left), sb.region_masks_for(jnp.asarray(left), SMALL)),
                                 (None, sb.kmeans_masks(f, 2, seed=3))]:
        want = sb.decode(params, sb.fuse_regions(params, f, feature_masks, ("a", "c"), SMALL), SMALL, HW)
        got = sb.stylize_regions(params, x, ("a", "c"), SMALL, masks, k=2, seed=3)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="k = 2"):
        sb.stylize_regions(params, x, ("a", "c"), SMALL, k=3)
    with pytest.raises(ValueError, match="masks must be"):
        sb.stylize_regions(params, x, ("a", "c"), SMALL, jnp.asarray(left[:, :1]))


def test_kmeans_seeding_spreads_over_separate_clusters():
    """k-means++ seeding (D²-weighted, by the Gumbel-max trick) puts one seed in each of three far
    apart blobs (a chance of about 1e-6 per seed to pick a second one in a blob), so every seed
    finds the three blobs; uniform seeding puts two seeds in one blob most of the time."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=(1, 12, 12))
    centres = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]], np.float32)
    f = jnp.asarray(centres[labels] + rng.normal(scale=0.1, size=(1, 12, 12, 2)).astype(np.float32))
    for seed in range(8):
        m = np.asarray(sb.kmeans_masks(f, 3, seed=seed))[0]  # (3, 12, 12)
        for cluster in m:
            assert len(np.unique(labels[0][cluster > 0])) == 1  # no cluster spans two blobs
        assert (m.sum(axis=(1, 2)) > 0).all()  # and none is empty


def test_region_fusion_nonlinear_bank_masks_outputs():
    cfg = sb.StyleBankConfig(channels=(4, 8, 8), bank_layers=2, bank_norm_relu=True)
    p = sb.init(jax.random.key(1), cfg, ["x", "y"])
    f = sb.encode(p, _images((1, 16, 16, 3)), cfg)
    m = np.zeros((1, 2, 4, 4), np.float32)
    m[:, 0, :2] = 1.0
    m[:, 1, 2:] = 1.0
    m = jnp.asarray(m)
    got = sb.fuse_regions(p, f, m, ["x", "y"], cfg)
    want = sum(m[:, r, :, :, None] * sb.apply_bank(p["banks"][n], f, cfg) for r, n in enumerate("xy"))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_resize_masks_keep_partition():
    m = np.zeros((1, 2, 17, 22), np.float32)
    m[:, 0, :, :9] = 1.0
    m[:, 1] = 1.0 - m[:, 0]
    m = jnp.asarray(m)
    small = sb.resize_masks(m, (5, 6))
    assert small.shape == (1, 2, 5, 6)
    np.testing.assert_allclose(np.asarray(small).sum(axis=1), 1.0, atol=1e-5)
    feat = sb.region_masks_for(m, SMALL)
    assert feat.shape == (1, 2, 5, 6)
    np.testing.assert_allclose(np.asarray(feat).sum(axis=1), 1.0, atol=1e-5)


def test_kmeans_masks():
    rng = np.random.default_rng(0)
    b, h, w, c = 2, 6, 8, 5
    f = rng.normal(scale=0.1, size=(b, h, w, c)).astype(np.float32)
    f[:, :, : w // 2, 0] += 3.0
    f[:, :, w // 2 :, 1] -= 3.0
    f = jnp.asarray(f)
    m = sb.kmeans_masks(f, 2, seed=0)
    assert m.shape == (b, 2, h, w)
    assert set(np.unique(np.asarray(m)).tolist()) <= {0.0, 1.0}
    np.testing.assert_array_equal(np.asarray(m).sum(axis=1), 1.0)
    np.testing.assert_array_equal(m, sb.kmeans_masks(f, 2, seed=0))
    half = np.zeros((h, w), np.float32)
    half[:, : w // 2] = 1.0
    for i in range(b):
        mi = np.asarray(m[i])
        assert any(np.array_equal(mi[0], t) and np.array_equal(mi[1], 1 - t) for t in (half, 1 - half))


def test_jit_vmap_over_batch(params):
    x = _images((2, *HW, 3), seed=7)
    one = jax.jit(jax.vmap(lambda im: sb.stylize(params, im[None], "a", SMALL)[0]))(x)
    np.testing.assert_allclose(one, sb.stylize(params, x, "a", SMALL), rtol=1e-5, atol=1e-5)


def test_gradients_reach_encoder_decoder_and_used_bank_only(params):
    x = _images((2, *HW, 3), seed=8)

    def loss(p):
        return jnp.mean(jnp.square(sb.stylize(p, x, "b", SMALL) - 0.5))

    g = jax.jit(jax.grad(loss))(params)
    for part in ("encoder", "decoder"):
        for path, leaf in jax.tree_util.tree_leaves_with_path(g[part]):
            assert np.abs(np.asarray(leaf)).max() > 0, (part, jax.tree_util.keystr(path))
    assert all(np.abs(np.asarray(leaf)).max() > 0 for leaf in jax.tree.leaves(g["banks"]["b"]))
    for name in ("a", "c"):
        assert all(np.abs(np.asarray(leaf)).max() == 0 for leaf in jax.tree.leaves(g["banks"][name]))


def test_port_variant_runs():
    cfg = sb.StyleBankConfig.port_variant(channels=(4, 8, 8, 16))
    p = sb.init(jax.random.key(2), cfg, ["s"])
    assert set(p["encoder"]) == {"conv1", "conv2", "conv3", "conv4"}
    assert set(p["banks"]["s"]) == {"conv1", "conv2"}
    assert set(p["banks"]["s"]["conv1"]) == {"conv", "norm"}
    x = _images((1, 18, 13, 3))
    assert sb.encode(p, x, cfg).shape == (1, 5, 4, 16)
    assert sb.stylize(p, x, "s", cfg).shape == (1, 18, 13, 3)


def test_sigmoid_output_is_sigmoid_of_linear_output(params):
    """Same params: the sigmoid decoder is σ of the linear one, so its images lie strictly in (0, 1)."""
    x = _images((1, *HW, 3), seed=9)
    lin = sb.stylize(params, x, "a", SMALL)
    sig = sb.stylize(params, x, "a", dataclasses.replace(SMALL, output="sigmoid"))
    np.testing.assert_allclose(sig, jax.nn.sigmoid(lin), rtol=1e-5, atol=1e-6)
    assert float(sig.min()) > 0.0 and float(sig.max()) < 1.0
    assert float(lin.min()) < 0.0 or float(lin.max()) > 1.0  # the perturbed linear output leaves [0, 1]


@pytest.mark.parametrize("cfg", [SMALL, sb.StyleBankConfig(channels=(4, 8, 8), bank_layers=2, bank_norm_relu=True),
                                 sb.StyleBankConfig(channels=(4, 8, 8), bank_layers=2)])
def test_stylize_per_image_is_each_images_own_fusion(params, cfg):
    """A bank (or R banks + masks) per image in one call = each image through `fuse_regions`."""
    p = params if cfg is SMALL else sb.init(jax.random.key(2), cfg, NAMES)
    x = _images((2, 16, 20, 3), seed=7)
    one_region = jax.tree.map(lambda a: a[:, None], sb.stack_banks(p["banks"], ["b", "a"]))  # (B, R=1, ...)
    plain = sb.stylize_per_image(p, x, one_region, jnp.ones((2, 1, 16, 20)), cfg)
    np.testing.assert_allclose(plain[0], sb.stylize(p, x[:1], "b", cfg)[0], atol=2e-5)
    np.testing.assert_allclose(plain[1], sb.stylize(p, x[1:], "a", cfg)[0], atol=2e-5)
    left = np.zeros((2, 16, 20), np.float32)
    left[:, :, :8] = 1.0
    masks = jnp.asarray(np.stack([left, 1 - left], 1))
    pairs = [["a", "c"], ["c", "b"]]  # image 0: a | c, image 1: c | b
    banks = jax.tree.map(lambda *xs: jnp.stack(xs), *[sb.stack_banks(p["banks"], pr) for pr in pairs])
    got = sb.stylize_per_image(p, x, banks, masks, cfg)
    for i, pr in enumerate(pairs):
        f = sb.encode(p, x[i : i + 1], cfg)
        g = sb.fuse_regions(p, f, sb.region_masks_for(masks[i : i + 1], cfg), pr, cfg)
        np.testing.assert_allclose(got[i], sb.decode(p, g, cfg, (16, 20))[0], atol=2e-5)


@pytest.mark.parametrize("cfg", [SMALL, sb.StyleBankConfig(channels=(4, 8, 8), bank_layers=2, bank_norm_relu=True)])
def test_apply_banks_per_image_equals_each_bank_and_its_gradient(params, cfg):
    """The training step's per-image banks (one im2col matmul for the paper's bank) = each image
    through its own bank, values and gradients."""
    p = params if cfg is SMALL else sb.init(jax.random.key(2), cfg, NAMES)
    f = sb.encode(p, _images((3, 16, 20, 3), seed=4), cfg)
    names = ["c", "a", "c"]
    per_image = sb.stack_banks(p["banks"], names)

    def each(banks):
        return jnp.concatenate([sb.apply_bank(jax.tree.map(lambda a: a[i], banks), f[i : i + 1], cfg) for i in range(3)])

    np.testing.assert_allclose(sb.apply_banks_per_image(per_image, f, cfg), each(per_image), rtol=1e-5, atol=1e-5)
    g = jax.grad(lambda b: jnp.sum(jnp.sin(sb.apply_banks_per_image(b, f, cfg))))(per_image)
    want = jax.grad(lambda b: jnp.sum(jnp.sin(each(b))))(per_image)
    for a, r in zip(jax.tree.leaves(g), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-4)


def _constant_gathers(jaxpr, const_in) -> tuple[list, list]:
    """Sizes of the gathers in `jaxpr` whose every input is a compile-time constant (XLA evaluates
    those while compiling), following nested jitted calls; `const_in` flags the invars that are."""
    const = {v for v, c in zip(jaxpr.invars, const_in) if c} | set(jaxpr.constvars)

    def is_const(x):
        return isinstance(x, Literal) or x in const

    found = []
    for eqn in jaxpr.eqns:
        ins = [is_const(x) for x in eqn.invars]
        inner = eqn.params.get("jaxpr")
        if inner is not None and hasattr(inner, "jaxpr"):  # a jitted call: look inside
            outs, sub = _constant_gathers(inner.jaxpr, ins)
            found += sub
        else:
            outs = [all(ins)] * len(eqn.outvars)
            if eqn.primitive.name == "gather" and all(ins):
                found.append(eqn.outvars[0].aval.size)
        const.update(v for v, c in zip(eqn.outvars, outs) if c)
    return [is_const(v) for v in jaxpr.outvars], found


@pytest.mark.parametrize("cfg", [SMALL, sb.StyleBankConfig(channels=(4, 8, 16), bank_layers=2)])
def test_region_fusion_folds_no_feature_sized_constant(cfg):
    """K(0), the bias each region's mask carries, is computed on a few positions: on a zero map the
    size of F it was a compile-time constant that XLA folded through the reflection-padding gather
    (seconds of compilation and `slow_operation_alarm` log blocks at 1536 px). Same for the
    service's per-image fusion with multi-layer affine banks."""
    p = sb.init(jax.random.key(0), cfg, NAMES)
    h = w = 48

    def gathers(fn, *args):
        closed = jax.make_jaxpr(fn)(*args)
        return _constant_gathers(closed.jaxpr, [False] * len(closed.jaxpr.invars))[1]

    f = jnp.zeros((1, h, w, cfg.features))
    masks = jnp.full((1, 2, h, w), 0.5)
    assert max(gathers(lambda p, f, m: sb.fuse_regions(p, f, m, ("a", "b"), cfg), p, f, masks), default=0) < h * w
    banks = jax.tree.map(lambda a: a[None], sb.stack_banks(p["banks"], ["a", "b"]))  # (B=1, R=2, ...)
    x, masks = jnp.zeros((1, 4 * h, 4 * w, 3)), jnp.full((1, 2, 4 * h, 4 * w), 0.5)
    assert max(gathers(lambda p, x, b, m: sb.stylize_per_image(p, x, b, m, cfg), p, x, banks, masks), default=0) < h * w
    for m in (masks, None):  # the CLI's whole region program, given masks or K-means regions
        assert max(gathers(lambda p, x: sb.stylize_regions(p, x, ("a", "b"), cfg, m, k=2), p, x), default=0) < h * w


# ------------------------------------------------------------------ tones and bank loudness (issue #31)


def test_restore_tone_ends_exact(params):
    out, photo = _images((2, 9, 11, 3), seed=3) * 0.5, _images((2, 9, 11, 3), seed=4)
    np.testing.assert_array_equal(np.asarray(restore_tone(out, photo, 0.0)), np.asarray(out))
    toned = np.asarray(restore_tone(out, photo, 1.0))
    np.testing.assert_allclose(toned.mean((1, 2)), np.asarray(photo).mean((1, 2)), atol=1e-5)
    np.testing.assert_allclose(toned.std((1, 2)), np.asarray(photo).std((1, 2)), rtol=1e-3)
    # per image: image 0 untouched, image 1 toned
    both = np.asarray(restore_tone(out, photo, jnp.asarray([0.0, 1.0])))
    np.testing.assert_array_equal(both[0], np.asarray(out)[0])
    np.testing.assert_allclose(both[1], toned[1], atol=1e-6)


def test_encoder_cannot_see_a_colour_offset_and_restore_tone_gives_it_back(params):
    # IN after every encoder conv: E(I + c) = E(I), so only the restored tones tell the two apart
    x = _images((1,) + HW + (3,), seed=5) * 0.6
    y = x + jnp.asarray([0.2, 0.1, 0.3])
    np.testing.assert_allclose(np.asarray(sb.encode(params, x, SMALL)), np.asarray(sb.encode(params, y, SMALL)), atol=2e-4)
    toned = dataclasses.replace(SMALL, restore_tone=True)
    for img in (x, y):
        out = np.asarray(sb.reconstruct(params, img, toned))
        np.testing.assert_allclose(out.mean((0, 1, 2)), np.asarray(img).mean((0, 1, 2)), atol=1e-5)


def test_tone_blend_moves_from_photo_tones_to_the_style(params):
    toned = dataclasses.replace(SMALL, restore_tone=True)
    x = _images((2,) + HW + (3,), seed=6)
    zero = np.asarray(sb.stylize(params, x, "a", toned, strength=jnp.float32(0.0)))
    np.testing.assert_allclose(zero, np.asarray(sb.reconstruct(params, x, toned)), atol=1e-5)
    one = np.asarray(sb.stylize(params, x, "a", toned, strength=jnp.float32(1.0)))
    np.testing.assert_allclose(one, np.asarray(sb.stylize(params, x, "a", toned)), atol=1e-5)
    per = np.asarray(sb.render_all(params, x, toned, ("a", "b"), strength=jnp.float32(0.0)))
    np.testing.assert_allclose(per[1], zero, atol=1e-5)


def test_decoder_ignores_the_scale_of_its_input(params):
    f = sb.encode(params, _images((2,) + HW + (3,), seed=7), SMALL)
    np.testing.assert_allclose(np.asarray(sb.decode(params, f, SMALL)), np.asarray(sb.decode(params, 9.0 * f, SMALL)),
                               rtol=1e-4, atol=1e-4)


def test_calibrate_banks_makes_banks_as_loud_as_features_and_keeps_full_strength(params):
    loud = {**params, "banks": {n: jax.tree.map(lambda x, k=k: x * (3.0 + 5 * k), b)
                                 for k, (n, b) in enumerate(params["banks"].items())}}
    x = _images((3,) + HW + (3,), seed=8)
    cal, gains = sb.calibrate_banks(loud, x, SMALL)
    f = sb.encode(cal, x, SMALL)
    for n in NAMES:
        assert gains[n] > 2.0
        np.testing.assert_allclose(float(jnp.mean(sb.bank_gain(cal["banks"][n], f, SMALL))), 1.0, rtol=1e-4)
        np.testing.assert_allclose(np.asarray(sb.stylize(cal, x, n, SMALL)), np.asarray(sb.stylize(loud, x, n, SMALL)),
                                   atol=1e-4)
    # the paper's fusion identity still holds on the calibrated banks
    fused = sb.fuse_linear(cal["banks"], {"a": 0.5, "b": 0.5})
    direct = 0.5 * sb.apply_bank(cal["banks"]["a"], f, SMALL) + 0.5 * sb.apply_bank(cal["banks"]["b"], f, SMALL)
    np.testing.assert_allclose(np.asarray(sb.apply_bank(fused, f, SMALL)), np.asarray(direct), atol=1e-5)
