"""Texture networks (`styljax.nets.texture_net`): the multi-scale generator as a member of the
transform-net family, its invariants, and the method end to end (train, stylize, styles)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax import methods
from styljax.infer.cli import main
from styljax.io import image, weights
from styljax.nets import transform as tr
from styljax.nets import vgg
from styljax.nets.texture_net import TextureNetConfig

CFG = TextureNetConfig(scales=3, channels=4)


@pytest.fixture(scope="module")
def params():
    p = tr.init(jax.random.key(0), CFG, ["a", "b"])
    # distinct styles: random γ/β
    keys = iter(jax.random.split(jax.random.key(1), 200))
    p["styles"] = jax.tree.map(lambda x: x + 0.3 * jax.random.normal(next(keys), x.shape), p["styles"])
    return p


def _photos(n=2, h=37, w=50):
    return jnp.asarray(np.random.default_rng(0).uniform(size=(n, h, w, 3)), jnp.float32)


def test_norms_and_params_match_the_config(params):
    assert set(params["styles"]["a"]) == set(CFG.norm_channels())
    assert all(params["styles"]["a"][n]["scale"].shape == (c,) for n, c in CFG.norm_channels().items())
    # one block of three convs per scale and per join, and the 1x1 output conv
    assert len(params["net"]) == 3 * CFG.scales + 3 * (CFG.scales - 1) + 1
    assert CFG.size_multiple == 4 and TextureNetConfig().size_multiple == 16


def test_any_size_deterministic_and_per_image(params):
    x = _photos()
    out = tr.stylize(params, x, "a", CFG)
    assert out.shape == x.shape and bool(jnp.all((out >= 0) & (out <= 1)))
    np.testing.assert_array_equal(out, tr.stylize(params, x, "a", CFG))  # fixed noise
    one = tr.stylize(params, x[1:], "a", CFG)
    np.testing.assert_allclose(out[1:], one, atol=1e-6)  # an image's result does not depend on its batch
    assert not np.allclose(out, tr.stylize(params, x, "b", CFG), atol=1e-3)


def test_family_functions_work_unchanged(params):
    x = _photos(1, 32, 32)
    a = tr.stylize(params, x, "a", CFG)
    np.testing.assert_array_equal(tr.stylize_with(params, x, params["styles"]["a"], CFG, strength=1.0), a)
    mixed = tr.mix_styles({"a": params["styles"]["a"]}, {"a": 1.0})
    np.testing.assert_allclose(tr.stylize_with(params, x, mixed, CFG), a, atol=1e-6)
    np.testing.assert_allclose(tr.stylize_with(params, x, params["styles"]["a"], CFG, strength=0.0), x, atol=1e-6)
    both = tr.render_all(params, x, CFG, ("a", "b"))
    np.testing.assert_allclose(both[0], a, atol=1e-6)


def test_registry_entry():
    m = methods.get("texture-net", "stylize")
    assert m.has("train") and m.single_style and m.store.endswith("texture_store:STORE")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tn")
    rng = np.random.default_rng(0)
    for i in range(3):
        image.save_image(d / "content" / f"p{i}.png", np.kron(rng.uniform(size=(6, 8, 3)), np.ones((8, 8, 1))))
    image.save_image(d / "dots.png", rng.uniform(size=(24, 24, 3)))
    weights.save_npz(vgg.random_weights(16, jax.random.key(0)), d / "vgg.npz")
    return d


def test_train_stylize_and_list_from_the_command_line(files, tmp_path, capsys):
    d = files
    out = tmp_path / "tn"
    assert main(["train", "texture-net", "--config", "tiny", "--style", str(d / "dots.png"), "--name", "dots",
                 "--content-dir", str(d / "content"), "--weights", str(d / "vgg.npz"), "--out", str(out),
                 "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "styljax-texture-net/1" and manifest["method"] == "texture-net"
    assert manifest["provenance"]["config"] == "texture-net-tiny"
    assert main(["stylize", "--method", "texture-net", "--model", str(out), "--style", "dots",
                 str(d / "content" / "p0.png"), "--out", str(tmp_path / "o.png")]) == 0
    assert image.load_image(tmp_path / "o.png").shape == (48, 64, 3)
    capsys.readouterr()
    assert main(["styles", "list", "--model", str(out)]) == 0
    assert "dots" in capsys.readouterr().out
    # the model is its method's: another transform-family method refuses it with one line
    assert main(["stylize", "--method", "johnson", "--model", str(out), "--style", "dots",
                 str(d / "content" / "p0.png"), "--out", str(tmp_path / "x.png")]) == 2
    assert "a texture-net model, not johnson" in capsys.readouterr().err


@pytest.mark.parametrize("seed", [0, 7])
def test_fixed_noise_is_jax_random_uniform_bit_for_bit(seed):
    """The noise written out as uint32 Threefry (so that it exports) is jax.random's, bit for bit."""
    from styljax.nets.texture_net import fixed_noise

    for h, w, c in [(4, 4, 3), (16, 24, 3), (37, 5, 2)]:
        want = jax.random.uniform(jax.random.key(seed), (1, h, w, c), jnp.float32)
        np.testing.assert_array_equal(np.asarray(fixed_noise(seed, h, w, c)), np.asarray(want))
        np.testing.assert_array_equal(np.asarray(jax.jit(lambda: fixed_noise(seed, h, w, c))()), np.asarray(want))


def test_no_shipped_model_says_how_to_get_one(files, tmp_path, capsys):
    assert not (methods.get("texture-net").default_model_path() / "manifest.json").exists()
    assert main(["stylize", "--method", "texture-net", "--style", "dots", str(files / "content" / "p0.png"),
                 "--out", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert "no shipped texture-net model" in err and "styljax train texture-net" in err and len(err.splitlines()) == 1
