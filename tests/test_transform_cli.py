"""CIN and Johnson programs end to end on tiny data: train, stylize (one/all/fusion/mask), add-style, styles."""

import json

import jax
import numpy as np
import pytest

from styljax.infer.cli import main
from styljax.io import image, weights
from styljax.nets import vgg
from styljax.stores import transform_store as ts


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("tr")
    rng = np.random.default_rng(0)
    for i in range(2):
        image.save_image(d / "content" / f"photo{i}.png", np.kron(rng.uniform(size=(5, 6, 3)), np.ones((8, 8, 1))))
    for name in ("dots", "stripes"):
        image.save_image(d / "styles" / f"{name}.png", rng.uniform(size=(24, 24, 3)))
    image.save_image(d / "mask.png", np.concatenate([np.zeros((40, 24, 3)), np.ones((40, 24, 3))], axis=1))
    weights.save_npz(vgg.random_weights(16, jax.random.key(0)), d / "vgg.npz")
    common = ["--config", "tiny", "--steps", "2", "--content-dir", str(d / "content"), "--weights", str(d / "vgg.npz"), "--quiet"]
    assert main(["train", "cin", "--styles", str(d / "styles"), "--out", str(d / "cin"), *common]) == 0
    assert main(["train", "johnson", "--style", str(d / "styles" / "dots.png"), "--name", "pointillism",
                 "--out", str(d / "johnson"), *common]) == 0
    return d, common


def test_models_written_with_provenance(setup):
    d, _ = setup
    assert ts.list_styles(d / "cin") == ["dots", "stripes"] and ts.list_styles(d / "johnson") == ["pointillism"]
    manifest = json.loads((d / "cin" / "manifest.json").read_text())
    assert manifest["method"] == "cin" and "styljax train cin" in manifest["provenance"]["command"]
    assert json.loads((d / "johnson" / "manifest.json").read_text())["config"]["output"] == "tanh150"


@pytest.mark.parametrize("method, style, n_out", [
    ("cin", "all", 2), ("cin", "dots:0.5,stripes:0.5", 1), ("johnson", "pointillism", 1)])
def test_stylize(setup, method, style, n_out, tmp_path):
    d, _ = setup
    rc = main(["stylize", "--method", method, "--model", str(d / method), "--style", style, str(d / "content"),
               "--out", str(tmp_path / "out"), "--quiet"])
    assert rc == 0
    pngs = sorted((tmp_path / "out").glob("*.png"))
    assert len(pngs) == 2 * n_out and image.load_image(pngs[0]).shape == (40, 48, 3)


def test_mask_regions_and_errors(setup, tmp_path, capsys):
    d, _ = setup
    photo = str(d / "content" / "photo0.png")
    base = ["stylize", "--method", "cin", "--model", str(d / "cin"), photo, "--quiet"]
    assert main([*base, "--style", "dots,stripes", "--mask", str(d / "mask.png"), "--out", str(tmp_path / "m.png")]) == 0
    assert image.load_image(tmp_path / "m.png").shape == (40, 48, 3)
    assert main([*base, "--style", "dots,stripes", "--regions", "2", "--out", str(tmp_path / "r.png")]) == 2
    assert "--mask" in capsys.readouterr().err
    assert main([*base, "--style", "nope", "--out", str(tmp_path / "x.png")]) == 2
    assert "unknown styles" in capsys.readouterr().err
    assert main(["stylize", "--method", "johnson", "--model", str(d / "cin"), photo, "--style", "dots",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "use --method cin" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "r.png").exists()


def test_add_style_to_cin_only(setup, tmp_path, capsys):
    d, common = setup
    out = tmp_path / "cin3"
    assert main(["add-style", "--model", str(d / "cin"), "--style", str(d / "styles" / "dots.png"), "--name", "fresh",
                 "--out", str(out), *common]) == 0
    assert ts.list_styles(out) == ["dots", "fresh", "stripes"]
    old, _, _ = ts.load_model(d / "cin")
    new, _, manifest = ts.load_model(out)
    for x, y in zip(jax.tree.leaves({"net": old["net"], "dots": old["styles"]["dots"]}),
                    jax.tree.leaves({"net": new["net"], "dots": new["styles"]["dots"]})):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert "fresh" in manifest["provenance"]["added_styles"]
    assert main(["styles", "list", "--model", str(out)]) == 0 and "fresh" in capsys.readouterr().out
    assert main(["add-style", "--model", str(d / "johnson"), "--style", str(d / "styles" / "dots.png"),
                 "--out", str(tmp_path / "j2"), *common]) == 2
    assert "one style per network" in capsys.readouterr().err
