"""`--method arbitrary` end to end on a random-weight model of the real layout (no wheel needed):
painting files as styles, mixes, strength, colours, masks, add-style and the styles verbs, and the
bad paintings that must give one line and exit 2."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from styljax.io import image
from styljax.infer.cli import main
from styljax.nets import arbitrary as ar
from styljax.stores import arbitrary_store


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("arb")
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(((40, 52), (33, 45))):  # any size, aspect kept
        image.save_image(d / "photos" / f"photo{i}.png", rng.uniform(size=(h, w, 3)))
    image.save_image(d / "a.png", np.kron(rng.uniform(size=(4, 5, 3)), np.ones((8, 8, 1))))
    image.save_image(d / "b.png", rng.uniform(size=(30, 20, 3)))
    image.save_image(d / "mask.png", np.concatenate([np.zeros((40, 26, 3)), np.ones((40, 26, 3))], axis=1))
    image.save_image(d / "tiny.png", np.zeros((1, 1, 3)))
    (d / "text.jpg").write_text("not an image")
    cfg = ar.ArbitraryConfig()
    params = {**ar.init(jax.random.key(1), cfg), "styles": {}}
    # random MobileNet features barely differ between images: scale the bottleneck so that two
    # paintings' vectors (and so their γ/β) differ by O(1), as the real predictor's do
    bottleneck = params["predictor"]["bottleneck"]
    params["predictor"]["bottleneck"] = {**bottleneck, "kernel": bottleneck["kernel"] * 1000.0}
    arbitrary_store.STORE.save_model(d / "model", params, cfg, {"method": "arbitrary"})
    return d


def _run(d, style, *extra, out="out.png", inputs=None):
    inputs = [str(d / "photos" / "photo0.png")] if inputs is None else inputs
    return main(["stylize", "--method", "arbitrary", "--model", str(d / "model"), "--style", style, *inputs,
                 "--out", str(d / out), "--quiet", *extra])


def test_painting_file_native_size_folder(setup):
    d = setup
    assert _run(d, str(d / "a.png"), out="folder", inputs=[str(d / "photos")]) == 0
    outs = {p.name: image.load_image(p).shape for p in (d / "folder").glob("*.png")}
    assert outs == {"photo0_a.png": (40, 52, 3), "photo1_a.png": (33, 45, 3)}


def test_mix_strength_and_colours_change_the_output(setup):
    d = setup
    a, b = str(d / "a.png"), str(d / "b.png")
    assert _run(d, a, out="o_a.png") == 0 and _run(d, b, out="o_b.png") == 0
    assert _run(d, f"{a}:0.5,{b}:0.5", out="o_mix.png") == 0
    assert _run(d, a, "--strength", "0", out="o_s0.png") == 0
    assert _run(d, a, "--preserve-colors", out="o_pc.png") == 0
    assert _run(d, f"{a},{b}", "--mask", str(d / "mask.png"), out="o_m.png") == 0
    img = {k: image.load_image(d / f"o_{k}.png") for k in ("a", "b", "mix", "s0", "pc", "m")}
    for k in ("b", "mix", "s0", "pc", "m"):
        assert np.abs(img[k] - img["a"]).mean() > 1e-3, k
    # the mask's left half (darkest = first style) is a's, its right half b's (up to the norms' mixing)
    left, right = slice(0, 20), slice(32, 52)
    assert np.abs(img["m"][:, left] - img["a"][:, left]).mean() < np.abs(img["m"][:, left] - img["b"][:, left]).mean()
    assert np.abs(img["m"][:, right] - img["b"][:, right]).mean() < np.abs(img["m"][:, right] - img["a"][:, right]).mean()


@pytest.mark.parametrize("style, words", [
    ("tiny.png", "16 px"), ("text.jpg", "not an image"), ("a.png:nan", "bad weight"), ("missing.jpg", "neither")])
def test_bad_paintings_one_line_exit_2(setup, capsys, style, words):
    d = setup
    assert _run(d, str(d / style), out="o_bad.png") == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (d / "o_bad.png").exists()


def test_too_many_pixels_one_line_exit_2(setup, capsys, monkeypatch):
    d = setup
    monkeypatch.setenv("STYLJAX_MAX_PIXELS", "500")  # a 100 MP painting, scaled down: 30x20 = 600 px > 500
    assert _run(d, str(d / "b.png"), out="o_big.png") == 2
    err = capsys.readouterr().err.strip()
    assert "pixels" in err and len(err.splitlines()) == 1


def test_add_style_then_styles_verbs(setup, tmp_path, capsys):
    d = setup
    model = str(d / "model")
    assert main(["add-style", "--model", model, "--method", "arbitrary", "--style", str(d / "a.png"), "--name", "x"]) == 0
    assert arbitrary_store.STORE.list_styles(model) == ["x"]
    params, cfg, _ = arbitrary_store.STORE.load_model(model)
    want = ar.predict_style(params, image.load_image(d / "a.png")[None], cfg)[0]
    np.testing.assert_allclose(params["styles"]["x"]["vector"], want, atol=1e-6)
    # the stored name renders as the painting does
    assert _run(d, "x", out="o_x.png") == 0 and _run(d, str(d / "a.png"), out="o_ax.png") == 0
    np.testing.assert_allclose(image.load_image(d / "o_x.png"), image.load_image(d / "o_ax.png"), atol=1 / 255)
    assert main(["add-style", "--model", model, "--style", str(d / "a.png"), "--name", "x"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["styles", "export", "--model", model, "x", str(tmp_path / "x.npz")]) == 0
    assert main(["styles", "remove", "--model", model, "x"]) == 0
    assert main(["styles", "import", "--model", model, str(tmp_path / "x.npz"), "--name", "y"]) == 0
    assert arbitrary_store.STORE.list_styles(model) == ["y"]


@pytest.mark.slow  # a real refinement: seconds of compiling and 20 steps, and the default suite is near its budget
def test_add_style_refine_never_on_held_out_photos(setup, tmp_path, capsys):
    """--refine optimises the stored vector on the --content-dir photos that are not held out (a
    folder of held-out photos only is refused in one line), and stores the refined vector."""
    from styljax.io import weights
    from styljax.nets import vgg

    d = setup
    weights.save_npz(vgg.random_weights(16, jax.random.key(0)), tmp_path / "vgg.npz")
    held = tmp_path / "held"
    image.save_image(held / "kodim21.png", np.random.default_rng(1).uniform(size=(40, 40, 3)))
    base = ["add-style", "--model", str(d / "model"), "--method", "arbitrary", "--style", str(d / "a.png"),
            "--name", "r", "--refine", "--weights", str(tmp_path / "vgg.npz"), "--steps", "2", "--crop", "16",
            "--out", str(tmp_path / "m")]
    assert main([*base, "--content-dir", str(held)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no photos to refine on" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "m").exists()

    assert main([*base, "--content-dir", str(held), str(d / "photos")]) == 0
    assert "on 2 16 px crops" in capsys.readouterr().out
    params, cfg, _ = arbitrary_store.STORE.load_model(tmp_path / "m")
    predicted = ar.predict_style(params, image.load_image(d / "a.png")[None], cfg)[0]
    assert np.abs(np.asarray(params["styles"]["r"]["vector"]) - np.asarray(predicted)).max() > 0
