"""styljax.losses.mrf and `--style-loss mrf`: Li & Wand's patch loss as a style loss of the Gatys optimiser."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from styljax.infer.cli import main
from styljax.io import image, weights
from styljax.imaging import geometry
from styljax.losses import mrf
from styljax.optimization import gatys


@pytest.fixture(scope="module")
def w(numpy_vgg):
    return numpy_vgg


def _img(seed, shape=(24, 24, 3)):
    rng = np.random.default_rng(seed)
    base = rng.uniform(size=(shape[0] // 3, shape[1] // 3, 3)).astype(np.float32)
    return np.asarray(geometry.resize(base, shape[:2]))


TINY = gatys.GatysConfig(
    **{**gatys.MRF_DEFAULTS, "content_layers": (("relu2_1", 1.0),), "style_layers": (("relu1_1", 1.0), ("relu2_1", 1.0))},
    mrf_stride=1, sizes=(24,), steps=(20,),
)


def test_nearest_is_the_brute_force_normalised_cross_correlation():
    rng = np.random.default_rng(0)
    out, style = rng.normal(size=(6, 7, 4)), rng.normal(size=(8, 5, 4))
    target = mrf.targets([jnp.asarray(style, jnp.float32)], 3, 2)
    got = np.asarray(mrf.nearest(mrf.patches(jnp.asarray(out, jnp.float32)), target))
    sp = np.stack([style[y : y + 3, x : x + 3].ravel() for y in range(0, 6, 2) for x in range(0, 3, 2)])
    op = np.stack([out[y : y + 3, x : x + 3].ravel() for y in range(4) for x in range(5)])
    ncc = (op @ sp.T) / np.linalg.norm(op, axis=1)[:, None] / np.linalg.norm(sp, axis=1)[None]
    np.testing.assert_array_equal(got, ncc.argmax(axis=1))
    assert mrf.patches(jnp.asarray(out), 3).shape == (20, 36)


def test_loss_is_zero_when_the_output_is_the_style(w):
    style = jnp.asarray(_img(1))
    targets_fn, loss_fn = gatys.make_loss(w, TINY)
    targets = jax.jit(targets_fn)(w.params, jnp.asarray(_img(2)), [style], np.ones(1, np.float32))
    parts = jax.jit(loss_fn)(w.params, targets, style)[1]
    other = jax.jit(loss_fn)(w.params, targets, jnp.asarray(_img(3)))[1]
    assert float(other["style"]) > 0.0
    assert float(parts["style"]) <= 1e-6 * float(other["style"]), (parts, other)


def test_layer_loss_gradient_check():
    """Against finite differences in float64; the matches are constant near the point. (Through
    the VGG the network and the other losses round to float32, which hides a check this fine.)"""
    rng = np.random.default_rng(3)
    with jax.enable_x64(True):
        target = mrf.targets([jnp.asarray(rng.normal(size=(7, 6, 5)))], 3, 1)
        f = jnp.asarray(rng.normal(size=(6, 8, 5)))
        check_grads(lambda x: mrf.layer_loss(x, target), (f,), order=1, modes=["rev"], eps=1e-4)


def test_mrf_run_lowers_the_style_loss(w):
    cfg = dataclasses.replace(TINY, content_weight=0.0, tv_weight=0.0)
    steps = list(gatys.iterate(w, _img(7), [_img(8)], cfg, every=5))
    assert [s.global_step for s in steps] == [5, 10, 15, 20]
    targets_fn, loss_fn = gatys.make_loss(w, cfg)
    targets = targets_fn(w.params, jnp.asarray(_img(7)), [jnp.asarray(_img(8))], np.ones(1, np.float32))
    start = float(loss_fn(w.params, targets, jnp.asarray(_img(7)))[1]["style"])
    assert steps[-1].parts()["style"] < 0.6 * start
    with pytest.raises(ValueError, match="style_blend"):
        dataclasses.replace(TINY, style_blend=(1.0, 1.0))
    with pytest.raises(ValueError, match="style_loss"):
        gatys.GatysConfig(style_loss="patch")


@pytest.fixture(scope="module")
def files(tmp_path_factory, w):
    d = tmp_path_factory.mktemp("mrf_cli")
    image.save_image(d / "content.png", _img(10, (24, 30, 3)))
    image.save_image(d / "style.png", _img(11, (27, 24, 3)))
    weights.save_npz(w, d / "vgg.npz")
    return d


def _args(files, *extra):
    return [
        "stylize", "--method", "gatys", "--content", str(files / "content.png"), "--style", str(files / "style.png"),
        "--out", str(files / "out.png"), "--weights", str(files / "vgg.npz"), "--size", "32", "--quiet",
        "--content-layers", "relu2_1", "--style-layers", "relu1_1,relu2_1", *extra,
    ]


def test_cli_style_loss_mrf(files, capsys):
    assert main(_args(files, "--style-loss", "mrf", "--scales", "2", "--steps", "3", "--snapshot-every", "4")) == 0
    assert image.load_image(files / "out.png").shape == (26, 32, 3)
    assert (files / "out_step00004.png").exists()
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("extra, needle", [(["--style-loss", "patch"], "--style-loss"),
                                           (["--style-loss", "mrf", "--style-blend", "1"], "style_blend")])
def test_cli_bad_style_loss_one_line_exit_2(files, capsys, extra, needle):
    assert main(_args(files, "--steps", "1", *extra)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("styljax: ") and needle in err[0], err
