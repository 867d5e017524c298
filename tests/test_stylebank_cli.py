"""StyleBank programs end to end on tiny data: train, stylize (one/all/fusion/regions), add-style, styles."""

import json

import jax
import numpy as np
import pytest

from styljax.infer.cli import main
from styljax.io import image, weights
from styljax.nets import vgg
from styljax.stores import stylebank_store as ss


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("sb")
    rng = np.random.default_rng(0)
    for i in range(3):
        image.save_image(d / "content" / f"photo{i}.png", np.kron(rng.uniform(size=(6, 8, 3)), np.ones((8, 8, 1))))
    for name in ("dots", "stripes"):
        image.save_image(d / "styles" / f"{name}.png", rng.uniform(size=(24, 24, 3)))
    image.save_image(d / "new.png", rng.uniform(size=(24, 24, 3)))
    image.save_image(d / "mask.png", np.concatenate([np.zeros((48, 32, 3)), np.ones((48, 32, 3))], axis=1))
    weights.save_npz(vgg.random_weights(16, jax.random.key(0)), d / "vgg.npz")
    rc = main(["train", "stylebank", "--config", "tiny", "--styles", str(d / "styles"), "--content-dir",
               str(d / "content"), "--out", str(d / "model"), "--weights", str(d / "vgg.npz"), "--quiet"])
    assert rc == 0
    return d


def test_train_writes_model_with_provenance(setup):
    d = setup
    assert ss.list_styles(d / "model") == ["dots", "stripes"]
    manifest = json.loads((d / "model" / "manifest.json").read_text())
    prov = manifest["provenance"]
    assert prov["steps"] == 6 and "styljax train stylebank" in prov["command"] and "style" in prov["final_metrics"]
    assert (d / "model.run" / "metrics.jsonl").exists() and list((d / "model.run" / "samples").glob("*.jpg"))
    # rerun: resumes at the end, does nothing more, still exit 0
    assert main(["train", "stylebank", "--config", "tiny", "--styles", str(d / "styles"), "--content-dir",
                 str(d / "content"), "--out", str(d / "model"), "--weights", str(d / "vgg.npz"), "--quiet"]) == 0


@pytest.mark.parametrize("style, n_out", [("dots", 1), ("all", 2), ("dots:0.7,stripes:0.3", 1)])
def test_stylize_modes(setup, style, n_out, tmp_path):
    d = setup
    rc = main(["stylize", "--method", "stylebank", "--model", str(d / "model"), "--style", style,
               str(d / "content"), "--out", str(tmp_path / "out"), "--quiet", "--batch", "2"])
    assert rc == 0
    pngs = sorted((tmp_path / "out").glob("*.png"))
    assert len(pngs) == 3 * n_out
    assert image.load_image(pngs[0]).shape == (48, 64, 3)
    if style == "all":
        assert (tmp_path / "out" / "contact_sheet.jpg").exists()


@pytest.mark.parametrize("extra", [["--regions", "2"], ["--mask", "MASK"]])
def test_region_fusion(setup, extra, tmp_path):
    d = setup
    extra = [str(d / "mask.png") if e == "MASK" else e for e in extra]
    out = tmp_path / "r.png"
    rc = main(["stylize", "--method", "stylebank", "--model", str(d / "model"), "--style", "dots,stripes",
               str(d / "content" / "photo0.png"), "--out", str(out), "--quiet", *extra])
    assert rc == 0 and image.load_image(out).shape == (48, 64, 3)


def test_tiled_render(setup, tmp_path):
    d = setup
    src = str(d / "content" / "photo0.png")  # 48 x 64
    args = ["stylize", "--method", "stylebank", "--model", str(d / "model"), "--style", "dots", src, "--quiet"]
    assert main([*args, "--out", str(tmp_path / "whole.png")]) == 0
    assert main([*args, "--out", str(tmp_path / "big.png"), "--tile", "64"]) == 0  # no tile larger than the image
    assert main([*args, "--out", str(tmp_path / "tiled.png"), "--tile", "32", "--tile-overlap", "8"]) == 0
    whole, big, tiled = (image.load_image(tmp_path / f) for f in ("whole.png", "big.png", "tiled.png"))
    np.testing.assert_array_equal(big, whole)
    assert tiled.shape == whole.shape and np.isfinite(tiled).all()
    assert np.abs(tiled - whole).mean() < 0.25  # same style; per-tile instance norm shifts tone a little


def test_tile_flag_errors(setup, capsys, tmp_path):
    d = setup
    base = ["stylize", "--method", "stylebank", "--model", str(d / "model"), str(d / "content" / "photo0.png"),
            "--out", str(tmp_path / "x.png"), "--quiet"]
    assert main([*base, "--style", "dots", "--tile", "32", "--tile-overlap", "32"]) == 2
    assert "--tile" in capsys.readouterr().err
    assert main([*base, "--style", "dots,stripes", "--regions", "2", "--tile", "64"]) == 2
    assert "--tile works with" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_add_style_and_manage(setup, tmp_path, capsys):
    d = setup
    out = tmp_path / "model7"
    rc = main(["add-style", "--model", str(d / "model"), "--style", str(d / "new.png"), "--name", "fresh",
               "--content-dir", str(d / "content"), "--config", "tiny", "--out", str(out),
               "--weights", str(d / "vgg.npz"), "--quiet"])
    assert rc == 0
    assert ss.list_styles(out) == ["dots", "fresh", "stripes"]
    old, _, _ = ss.load_model(d / "model")
    new, _, _ = ss.load_model(out)
    for part in ("encoder", "decoder"):
        for x, y in zip(jax.tree.leaves(old[part]), jax.tree.leaves(new[part])):
            assert np.array_equal(np.asarray(x), np.asarray(y))
    # --refine trains an existing bank further and nothing else; without it the name is refused
    refined = tmp_path / "model7r"
    again = ["add-style", "--model", str(out), "--style", str(d / "new.png"), "--name", "fresh",
             "--content-dir", str(d / "content"), "--config", "tiny", "--weights", str(d / "vgg.npz"), "--quiet"]
    assert main(again) == 2 and "--refine" in capsys.readouterr().err
    assert main([*again, "--refine", "--out", str(refined)]) == 0
    ref, _, manifest = ss.load_model(refined)
    assert not np.array_equal(ref["banks"]["fresh"]["conv1"]["kernel"], new["banks"]["fresh"]["conv1"]["kernel"])
    for x, y in zip(jax.tree.leaves({k: v for k, v in new.items() if k != "banks"} | {"b": new["banks"]["dots"]}),
                    jax.tree.leaves({k: v for k, v in ref.items() if k != "banks"} | {"b": ref["banks"]["dots"]})):
        assert np.array_equal(np.asarray(x), np.asarray(y))
    assert [r["steps"] for r in manifest["provenance"]["refined_styles"]["fresh"]] == [6]
    assert main(["styles", "export", "--model", str(out), "fresh", str(tmp_path / "fresh.npz")]) == 0
    assert main(["styles", "import", "--model", str(d / "model"), str(tmp_path / "fresh.npz")]) == 0
    assert "fresh" in ss.list_styles(d / "model")
    assert main(["styles", "rename", "--model", str(d / "model"), "fresh", "fresh2"]) == 0
    assert main(["styles", "remove", "--model", str(d / "model"), "fresh2"]) == 0
    assert main(["styles", "list", "--model", str(d / "model")]) == 0
    assert "dots" in capsys.readouterr().out


@pytest.mark.parametrize("args, needle", [
    (["--style", "nope"], "unknown styles"),
    (["--style", "dots", "--regions", "3"], "--regions 3"),
    (["--style", "all", "--out", "OUT.png"], "folder"),
])
def test_stylize_errors(setup, capsys, args, needle, tmp_path):
    d = setup
    base = ["stylize", "--method", "stylebank", "--model", str(d / "model"), str(d / "content"), "--quiet"]
    if "--out" not in args:
        args = args + ["--out", str(tmp_path / "o")]
    args = [str(tmp_path / "o.png") if a == "OUT.png" else a for a in args]
    assert main(base + args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_bad_model_dir(capsys, tmp_path):
    assert main(["stylize", "--method", "stylebank", "--model", str(tmp_path), "--style", "x",
                 str(tmp_path), "--out", str(tmp_path / "o")]) == 2


def test_folder_run_resumes_skipping_done_outputs(setup, tmp_path, capsys):
    """A folder run skips inputs whose outputs exist (resumable); --overwrite redoes them."""
    d = setup
    args = ["stylize", "--method", "stylebank", "--model", str(d / "model"), "--style", "dots",
            str(d / "content"), "--out", str(tmp_path / "out"), "--quiet"]
    assert main(args) == 0
    outs = sorted((tmp_path / "out").glob("*.png"))
    assert [p.name for p in outs] == [f"photo{i}_dots.png" for i in range(3)]
    outs[1].unlink()
    before = outs[0].stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 0
    said = capsys.readouterr().out
    assert "skipping 2 input(s) already done" in said and "wrote 1 image(s)" in said
    assert outs[1].is_file() and outs[0].stat().st_mtime_ns == before
    assert main(args + ["--overwrite"]) == 0
    assert "wrote 3 image(s)" in capsys.readouterr().out
