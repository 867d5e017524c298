"""DPST and its parts: matting Laplacian (styljax.optimization.matting), guided filter (styljax.imaging.guided), region masks, the objective and `--method photo`."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax.infer.cli import main
from styljax.imaging import guided, windows
from styljax.io import image, weights
from styljax.imaging import geometry
from styljax.nets import vgg
from styljax.optimization import gatys, matting, dpst, region_masks
from styljax.errors import StyljaxError

TINY = dpst.PhotoConfig(
    content_layers=(("relu1_2", 1.0),),
    style_layers=(("relu1_1", 1.0), ("relu1_2", 1.0)),
    max_side=16,
    steps=(2, 2),
)


@pytest.fixture(scope="module")
def w(numpy_vgg):
    return numpy_vgg


def _img(seed, shape=(16, 16, 3)):
    """A smooth random colour image in [0.1, 0.9]: a random low-frequency sinusoid per channel."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]] / max(shape[:2])
    freq, phase = rng.uniform(0.5, 2, (2, 3)), rng.uniform(0, 2 * np.pi, 3)
    return (0.5 + 0.4 * np.sin(2 * np.pi * (freq[0] * x[..., None] + freq[1] * y[..., None]) + phase)).astype(np.float32)


def _dense_laplacian(guide: np.ndarray, eps: float, radius: int) -> np.ndarray:
    """Levin et al.'s L = Σ_k (Id − (1 + (I_i − μ_k)ᵀ (Σ_k + ε/|w| Id)⁻¹ (I_j − μ_k)) / |w|), in float64."""
    h, w, _ = guide.shape
    n = (2 * radius + 1) ** 2
    index = np.arange(h * w).reshape(h, w)
    lap = np.zeros((h * w, h * w))
    for y in range(radius, h - radius):
        for x in range(radius, w - radius):
            win = index[y - radius : y + radius + 1, x - radius : x + radius + 1].ravel()
            colors = guide[y - radius : y + radius + 1, x - radius : x + radius + 1].reshape(n, 3)
            d = colors - colors.mean(axis=0)
            inv = np.linalg.inv(d.T @ d / n + eps / n * np.eye(3))
            lap[np.ix_(win, win)] += np.eye(n) - (1.0 + d @ inv @ d.T) / n
    return lap


# ------------------------------------------------------------------ matting Laplacian


@pytest.mark.parametrize("eps, radius", [(1e-7, 1), (1e-3, 1), (1e-2, 2)])
def test_matrix_free_laplacian_equals_dense(eps, radius):
    rng = np.random.default_rng(0)
    guide, v = rng.uniform(size=(6, 7, 3)), rng.normal(size=(6, 7, 3))  # 6x7 in every Laplacian test
    lap = _dense_laplacian(guide, eps, radius)
    want = np.stack([lap @ v[..., c].ravel() for c in range(3)], axis=-1).reshape(6, 7, 3)
    with jax.enable_x64(True):
        got = matting.matting_laplacian_apply(jnp.asarray(guide), jnp.asarray(v), eps, radius)
        assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    got32 = matting.matting_laplacian_apply(jnp.asarray(guide, jnp.float32), jnp.asarray(v, jnp.float32), eps, radius)
    assert np.abs(np.asarray(got32) - want).max() < 1e-5 * np.abs(want).max()


def test_laplacian_vanishes_on_local_affine_images_only():
    rng = np.random.default_rng(1)
    guide = jnp.asarray(rng.uniform(size=(6, 7, 3)), jnp.float32)
    grey = guide @ jnp.asarray([0.3, -0.5, 0.8]) + 0.2  # v = aᵀI + b
    colour = guide @ jnp.asarray(rng.normal(size=(3, 3)), jnp.float32) + jnp.asarray([0.1, 0.5, -0.2])
    noise = jnp.asarray(rng.uniform(size=(6, 7, 3)), jnp.float32)
    rel = lambda v: float(jnp.linalg.norm(matting.matting_laplacian_apply(guide, v)) / jnp.linalg.norm(v))
    assert rel(grey) < 1e-4 and rel(colour) < 1e-4
    assert rel(noise) > 0.1


def test_laplacian_symmetric_psd():
    rng = np.random.default_rng(2)
    guide = jnp.asarray(_img(3, (6, 7, 3)))
    u, v = (jnp.asarray(rng.normal(size=(6, 7)), jnp.float32) for _ in range(2))
    lu, lv = matting.matting_laplacian_apply(guide, u), matting.matting_laplacian_apply(guide, v)
    np.testing.assert_allclose(jnp.vdot(u, lv), jnp.vdot(v, lu), rtol=1e-4)
    for seed in range(5):
        x = jnp.asarray(np.random.default_rng(seed).normal(size=(6, 7, 3)), jnp.float32)
        assert float(matting.matting_loss(guide, x)) >= 0.0


def test_matting_loss_gradient_is_twice_laplacian():
    rng = np.random.default_rng(4)
    with jax.enable_x64(True):
        guide, x = jnp.asarray(rng.uniform(size=(6, 7, 3))), jnp.asarray(rng.uniform(size=(6, 7, 3)))
        grad = jax.grad(lambda y: matting.matting_loss(guide, y))(x)
        np.testing.assert_allclose(grad, 2 * matting.matting_laplacian_apply(guide, x), rtol=1e-9, atol=1e-12)


def test_box_filters():
    x = jnp.asarray(np.random.default_rng(5).normal(size=(9, 11, 2)), jnp.float32)
    sums = windows.box_sum(x, 2)
    want = np.array([[np.asarray(x)[i : i + 5, j : j + 5].sum(axis=(0, 1)) for j in range(7)] for i in range(5)])
    np.testing.assert_allclose(sums, want, rtol=1e-5, atol=1e-5)
    f = jnp.asarray(np.random.default_rng(6).normal(size=sums.shape), jnp.float32)
    np.testing.assert_allclose(jnp.vdot(sums, f), jnp.vdot(x, windows.spread(f, 2)), rtol=1e-5)  # adjoint
    edge, inner = [1, 2, 3, 2, 1], [2, 4, 6, 4, 2]
    np.testing.assert_array_equal(windows.window_count((4, 5), 1)[..., 0], [edge, inner, inner, edge])


# ------------------------------------------------------------------ photoreal post-process


# 18x24 results with the default radius (15, reduced to 8 to fit) here and in the CLI test: one compile


def test_photoreal_keeps_affine_images_and_range():
    rng = np.random.default_rng(7)
    content = rng.uniform(size=(18, 24, 3)).astype(np.float32)
    matrix = np.array([[0.5, 0.1, 0.0], [0.0, 0.3, 0.2], [0.1, 0.0, 0.6]], np.float32)
    affine = content @ matrix + np.array([0.1, 0.2, 0.15], np.float32)  # stays inside [0, 1]
    out = guided.photoreal(content, affine)
    assert out.shape == affine.shape
    np.testing.assert_allclose(out, affine, atol=1e-3)
    wild = rng.normal(0.5, 1.0, size=(18, 24, 3)).astype(np.float32)
    out = guided.photoreal(rng.uniform(size=(36, 48, 3)), wild)  # content resized to the result's size
    assert out.shape == wild.shape and out.min() >= 0.0 and out.max() <= 1.0


def test_photoreal_smooths_what_is_not_local_affine():
    content = _img(8, (18, 24, 3))
    noisy = np.clip(content + np.random.default_rng(9).normal(0, 0.1, content.shape), 0, 1).astype(np.float32)
    out = guided.photoreal(content, noisy, eps=1e-3)
    assert np.abs(out - content).mean() < 0.5 * np.abs(noisy - content).mean()


# ------------------------------------------------------------------ masks


def _mask_image(tmp_path, colours, name="mask.png", jitter=0.05):
    """Vertical stripes of the given MASK_COLORS, off by up to `jitter` per channel."""
    stripes = np.concatenate([np.broadcast_to(region_masks.MASK_COLORS[c], (8, 4, 3)) for c in colours], axis=1)
    off = np.random.default_rng(0).uniform(-jitter, jitter, stripes.shape)
    path = tmp_path / name
    image.save_image(path, np.clip(stripes + off, 0, 1))
    return path


def test_color_masks_from_a_colour_coded_image(tmp_path):
    names = list(region_masks.MASK_COLORS)
    masks = region_masks.load_color_masks(_mask_image(tmp_path, names))
    assert masks.shape == (9, 8, 36)
    for i in range(9):
        want = np.zeros((8, 36))
        want[:, 4 * i : 4 * i + 4] = 1.0
        np.testing.assert_array_equal(masks[i], want)
    half = region_masks.load_color_masks(_mask_image(tmp_path, ["red", "blue"], "rb.png"), size=(4, 4))
    assert half.shape == (9, 4, 4)
    np.testing.assert_allclose(half[names.index("red")][:, 0], 1.0, atol=1e-6)  # soft at the edge
    np.testing.assert_allclose(half[names.index("blue")][:, 3], 1.0, atol=1e-6)
    assert float(half.sum(axis=0).min()) == pytest.approx(1.0, abs=1e-5)


def test_not_a_mask_and_no_common_colour_are_one_line_errors(tmp_path):
    photo_path = tmp_path / "photo.png"
    image.save_image(photo_path, _img(10))
    with pytest.raises(StyljaxError, match="mask colours"):
        region_masks.load_color_masks(photo_path)
    red_green = region_masks.load_color_masks(_mask_image(tmp_path, ["red", "green"], "rg.png"))
    green_blue = region_masks.load_color_masks(_mask_image(tmp_path, ["green", "blue", "blue"], "gb.png"))
    content, style = region_masks.pair_masks(red_green, green_blue)
    assert content.shape == (1, 8, 8) and style.shape == (1, 8, 12)  # green only
    assert float(content[0, :, 4:].min()) == 1.0 and float(style[0, :, :4].min()) == 1.0
    with pytest.raises(StyljaxError, match="in common"):
        region_masks.pair_masks(red_green, region_masks.load_color_masks(_mask_image(tmp_path, ["blue"], "b.png")))


def test_auto_masks_pair_tonal_zones_by_rank():
    content = np.zeros((8, 12, 3), np.float32)
    content[:, 6:] = 0.9  # dark left, bright right
    style = np.full((8, 12, 3), 0.8, np.float32)  # same shape: one k-means compile
    style[4:] = 0.1  # bright top, dark bottom
    cm, sm = region_masks.auto_masks(content, style, 2)
    np.testing.assert_array_equal(cm[0, :, :6], 1.0)  # darkest zone first
    np.testing.assert_array_equal(cm[1, :, 6:], 1.0)
    np.testing.assert_array_equal(sm[0, 4:], 1.0)
    np.testing.assert_array_equal(sm[1, :4], 1.0)


# ------------------------------------------------------------------ the DPST objective


def _targets(w, cfg, content, style, masks=None, matting_weight=0.0):
    """dpst.make_loss's targets (jitted) and its loss_fn."""
    targets_fn, loss_fn = dpst.make_loss(w, cfg)
    cm, sm = (jnp.ones((1, 16, 16)),) * 2 if masks is None else masks
    return jax.jit(targets_fn)(w.params, jnp.asarray(content), jnp.asarray(style), cm, sm, matting_weight), loss_fn


def test_region_grams_ignore_style_pixels_outside_the_region(w):
    cfg = dataclasses.replace(TINY, style_layers=(("relu1_1", 1.0),))  # 3x3 receptive field
    left = jnp.zeros((16, 16)).at[:, :8].set(1.0)
    masks = (jnp.stack([left, 1 - left]),) * 2
    style = _img(11)
    base, _ = _targets(w, cfg, _img(12), style, masks)
    far_right = style.copy()
    far_right[:, 10:] = 1.0 - far_right[:, 10:]  # > 1 px away from the left region
    changed, _ = _targets(w, cfg, _img(12), far_right, masks)
    g0, g1 = base["style"]["relu1_1"][0], changed["style"]["relu1_1"][0]
    np.testing.assert_allclose(g1[0], g0[0], rtol=1e-6, atol=1e-8)
    assert float(jnp.abs(g1[1] - g0[1]).max()) > 1e-3


def test_one_full_region_is_the_plain_gatys_style_loss(w):
    content, style, x = _img(13), _img(14), jnp.asarray(_img(15))
    targets, loss_fn = _targets(w, TINY, content, style)
    got = jax.jit(loss_fn)(w.params, targets, x)[1]
    gcfg = gatys.GatysConfig(content_layers=TINY.content_layers, style_layers=TINY.style_layers, tv_weight=TINY.tv_weight)
    g_targets_fn, g_loss_fn = gatys.make_loss(w, gcfg)
    g_targets = jax.jit(g_targets_fn)(w.params, jnp.asarray(content), [jnp.asarray(style)], np.ones(1, np.float32))
    want = jax.jit(g_loss_fn)(w.params, g_targets, x)[1]
    for part in ("content", "style", "tv"):
        np.testing.assert_allclose(got[part], want[part], rtol=1e-5)
    assert float(got["matting"]) == 0.0


def test_dpst_objective_gradient_matches_finite_differences(w):
    """Region style + content + TV + λ·matting on relu1_1, with conv1_1's biases raised so that every
    unit is active: the objective is then smooth (through the ReLU kinks of a random VGG, float32
    central differences are off by several per cent whatever the step)."""
    params = {**w.params, "conv1_1": {**w.params["conv1_1"], "bias": w.params["conv1_1"]["bias"] + 2000.0}}
    active = dataclasses.replace(w, params=params)
    cfg = dataclasses.replace(TINY, content_layers=(("relu1_1", 1.0),), style_layers=(("relu1_1", 1.0),))
    content, style, x = _img(16), _img(17), jnp.asarray(_img(18))
    assert float(vgg.features(active, x[None], ["relu1_1"])["relu1_1"].min()) > 100.0
    top = jnp.zeros((16, 16)).at[:9].set(1.0)
    masks = (jnp.stack([top, 1 - top]), jnp.stack([1 - top, top]))
    targets, loss_fn = _targets(active, cfg, content, style, masks)
    style_term = jax.jit(loss_fn)(active.params, targets, x)[1]["style"]
    targets["matting_weight"] = style_term / matting.matting_loss(jnp.asarray(content), x)  # both terms matter
    f = jax.jit(lambda y: loss_fn(active.params, targets, y)[0])
    grad = jax.jit(jax.grad(f))(x)
    h = 1e-2
    for seed in range(3):
        d = jnp.asarray(np.random.default_rng(seed).normal(size=x.shape), jnp.float32)
        numeric = (float(f(x + h * d)) - float(f(x - h * d))) / (2 * h)
        np.testing.assert_allclose(float(jnp.vdot(grad, d)), numeric, rtol=1e-3)


def test_iterate_runs_two_stages(w):
    content, style = _img(19, (12, 16, 3)), _img(20)
    top = jnp.zeros((12, 16)).at[:5].set(1.0)
    masks = (jnp.stack([top, 1 - top]), jnp.stack([1 - top, top]))  # resized to the style's 16x16
    steps = list(dpst.iterate(w, content, style, dataclasses.replace(TINY, optimizer="adam"), *masks))
    assert [(s.stage, s.step, s.global_step) for s in steps] == [(0, 0, 1), (0, 1, 2), (1, 0, 3), (1, 1, 4)]
    assert steps[-1].image.shape == (12, 16, 3)
    assert steps[1].parts()["matting"] == 0.0 and steps[-1].parts()["matting"] > 0.0
    assert all(np.isfinite(s.loss) for s in steps)
    out = dpst.finish(steps[-1].image)
    assert out.min() >= 0.0 and out.max() <= 1.0
    with pytest.raises(ValueError, match="both"):
        next(dpst.iterate(w, content, style, TINY, masks[0], None))


# ------------------------------------------------------------------ CLI


@pytest.fixture(scope="module")
def files(tmp_path_factory, w):
    d = tmp_path_factory.mktemp("photo_cli")
    image.save_image(d / "content.png", _img(21, (18, 24, 3)))
    image.save_image(d / "style.png", _img(22, (20, 20, 3)))
    weights.save_npz(w, d / "vgg.npz")
    _mask_image(d, ["red", "blue", "blue"], "content_mask.png")  # another size: resized
    _mask_image(d, ["blue", "red"], "style_mask.png")
    return d


def _photo_args(files, *extra, out="out.png"):
    return [
        "stylize", "--method", "photo", "--content", str(files / "content.png"),
        "--style", str(files / "style.png"), "--out", str(files / out), "--weights", str(files / "vgg.npz"),
        "--size", "24", "--steps", "2,2", "--quiet", "--content-layers", "relu1_2",
        "--style-layers", "relu1_1,relu1_2", *extra,
    ]


def test_cli_photo_with_masks_and_photoreal(files, capsys):
    extra = ["--content-mask", str(files / "content_mask.png"), "--style-mask", str(files / "style_mask.png"),
             "--photoreal", "--snapshot-every", "2", "--optimizer", "adam"]
    assert main(_photo_args(files, *extra)) == 0
    assert image.load_image(files / "out.png").shape == (18, 24, 3)
    assert (files / "out_step00002.png").exists()  # the stage-1 result
    assert "2 region(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--content-mask", "missing.png", "--style-mask", "style_mask.png"], "missing.png"),
        (["--content-mask", "content.png", "--style-mask", "style_mask.png"], "mask colours"),
        (["--content-mask", "content_mask.png"], "go together"),
        (["--steps", "1,2,3"], "--steps"),
        (["--init", "style"], "--init"),
    ],
)
def test_cli_photo_bad_input_one_line_exit_2(files, capsys, extra, needle):
    extra = [str(files / e) if e.endswith(".png") else e for e in extra]
    assert main(_photo_args(files, *extra)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("styljax: ") and needle in err[0], err


@pytest.mark.weights
def test_real_weights_dpst_transfers_colour_and_stays_photorealistic(real_vgg):
    real = real_vgg
    import skimage.data

    content = np.asarray(geometry.resize(skimage.data.coffee() / 255.0, (48, 72)), np.float32)
    style = np.asarray(geometry.resize(skimage.data.rocket() / 255.0, (48, 72)), np.float32)
    cfg = dpst.PhotoConfig(  # layers to relu3_3 and Adam: a third of the default's compile time
        content_layers=(("relu3_3", 1.0),),
        style_layers=(("relu1_2", 1.0), ("relu2_2", 1.0), ("relu3_3", 1.0)),
        max_side=72, steps=(20, 20), optimizer="adam",
    )
    steps = list(dpst.iterate(real, content, style, cfg))
    stage0 = [s for s in steps if s.stage == 0]
    assert stage0[-1].loss < stage0[0].loss / 3  # content + region style + TV
    out = dpst.finish(steps[-1].image)
    first = dpst.finish(stage0[-1].image)
    # stage 2 lowers the matting energy of the stage-1 result, and colours moved towards the style
    assert float(matting.matting_loss(content, out)) < 0.5 * float(matting.matting_loss(content, first))
    dist = lambda a: np.abs(a.mean((0, 1)) - style.mean((0, 1))).sum()
    assert dist(out) < dist(content)
