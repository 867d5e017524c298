"""`styljax train video` and `styljax video` end to end, on a tiny random StyleBank model."""

import json

import jax
import numpy as np
import pytest
import skimage.data

from styljax.infer.cli import main
from styljax.io import data
from styljax.video import synthetic, frame_io
from styljax.nets import stylebank as sb
from styljax.stores import stylebank_store, video_store

SB = sb.StyleBankConfig(channels=(4, 8, 16), output="sigmoid")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("video")
    model = root / "model"
    stylebank_store.save_model(model, sb.init(jax.random.key(0), SB, ["a", "b"]), SB, {"method": "stylebank"})
    # a short clip with known motion, as a folder of frames and as an mp4
    clip = synthetic.eval_clips([data.as_rgb01(skimage.data.astronaut())], 48, 6, seed=1)[0]
    frames = root / "frames"
    with frame_io.FrameWriter(str(frames) + "/", 10) as w:
        for f in clip["frames"]:
            w.write(f)
    with frame_io.FrameWriter(root / "clip.mp4", 10) as w:
        for f in clip["frames"]:
            w.write(f)
    net1 = root / "net1"
    rc = main(["train", "video", "--config", "video-tiny", "--model", str(model), "--style", "a",
               "--out", str(net1), "--quiet"])
    assert rc == 0
    return {"root": root, "model": model, "frames": frames, "mp4": root / "clip.mp4", "net1": net1}


def test_train_writes_net1_with_provenance_and_resumes(setup, capsys):
    params, cfg, meta = video_store.load_net1(setup["net1"])
    assert set(params) == {"flow", "mask"} and cfg.flow_channels == (8, 8, 16, 16)
    manifest = json.loads((setup["net1"] / "manifest.json").read_text())
    assert manifest["style"] == "a" and manifest["provenance"]["command"].startswith("styljax train video")
    assert manifest["autoencoder_sha256"] == stylebank_store.read_manifest(setup["model"])["autoencoder_sha256"]
    assert manifest["provenance"]["final_metrics"]["step"] == 4
    # the same command again: the run directory holds step 4 already, nothing retrains
    rc = main(["train", "video", "--config", "video-tiny", "--model", str(setup["model"]), "--style", "a",
               "--out", str(setup["net1"]), "--quiet", "--steps", "5"])
    assert rc == 0
    lines = (setup["net1"].parent / "net1.run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("out_name,extra", [("out.mp4", []), ("out.gif", ["--per-frame"]),
                                            ("frames_out/", ["--style", "a:0.5,b:0.5"]),
                                            ("sbs.gif", ["--side-by-side"])])
def test_video_outputs(setup, tmp_path, capsys, out_name, extra):
    out = tmp_path / out_name
    args = ["video", str(setup["frames"]), "--model", str(setup["model"]), "--net1", str(setup["net1"]),
            "--style", "a", "--out", str(out), "--quiet"] + extra
    assert main(args) == 0
    printed = capsys.readouterr().out
    info, frames = frame_io.open_frames(out)
    frames = list(frames)
    assert 1 <= len(frames) <= 6
    assert f"6 frames {frames[0].shape[1]}x{frames[0].shape[0]} " in printed  # the size written, not the input's
    width = 3 * 48 if "--side-by-side" in extra else 48
    assert frames[0].shape[1] >= width and np.isfinite(frames[0]).all()


def test_coherent_first_frame_equals_per_frame_and_later_ones_differ(setup, tmp_path):
    base = ["video", str(setup["mp4"]), "--model", str(setup["model"]), "--net1", str(setup["net1"]),
            "--style", "b", "--quiet"]
    assert main(base + ["--out", str(tmp_path / "c") + "/"]) == 0
    assert main(base + ["--out", str(tmp_path / "p") + "/", "--per-frame"]) == 0
    c = [np.asarray(f) for f in frame_io.open_frames(tmp_path / "c")[1]]
    p = [np.asarray(f) for f in frame_io.open_frames(tmp_path / "p")[1]]
    assert len(c) == len(p) == 6
    np.testing.assert_array_equal(c[0], p[0])
    assert max(np.abs(a - b).max() for a, b in zip(c[1:], p[1:])) > 1 / 255


@pytest.mark.parametrize("override,needle", [
    ({"--style": "nope"}, "unknown styles"),
    ({"--style": "all"}, "not 'all'"),
    ({"--net1": "{root}/missing"}, "no net1.npz"),
    ({"--size": "4"}, "--size"),
    ({"input": "{root}/missing.mp4"}, "missing.mp4"),
])
def test_video_errors(setup, tmp_path, capsys, override, needle):
    opts = {"input": str(setup["frames"]), "--model": str(setup["model"]), "--net1": str(setup["net1"]),
            "--style": "a", "--out": str(tmp_path / "o.mp4")}
    opts.update({k: v.replace("{root}", str(setup["root"])) for k, v in override.items()})
    args = ["video", opts.pop("input")] + [x for kv in opts.items() for x in kv] + ["--quiet"]
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err
    assert not (tmp_path / "o.mp4").exists()


def test_net1_for_another_autoencoder_is_refused(setup, tmp_path, capsys):
    other = tmp_path / "other"
    stylebank_store.save_model(other, sb.init(jax.random.key(9), SB, ["a"]), SB, {})
    rc = main(["video", str(setup["frames"]), "--model", str(other), "--net1", str(setup["net1"]),
               "--style", "a", "--out", str(tmp_path / "o.mp4"), "--quiet"])
    assert rc == 2 and "different StyleBank auto-encoder" in capsys.readouterr().err


def test_init_moves_net1_to_another_autoencoder(setup, tmp_path, capsys):
    other = tmp_path / "other"
    stylebank_store.save_model(other, sb.init(jax.random.key(9), SB, ["a"]), SB, {"method": "stylebank"})
    moved = tmp_path / "moved"
    rc = main(["train", "video", "--config", "video-tiny", "--init", str(setup["net1"]), "--model", str(other),
               "--style", "a", "--steps", "1", "--out", str(moved), "--quiet"])
    assert rc == 0
    start, _, _ = video_store.load_net1(setup["net1"])
    after, _, meta = video_store.load_net1(moved)
    assert meta["autoencoder_sha256"] == stylebank_store.read_manifest(other)["autoencoder_sha256"]
    # one step from the given Net1, not from a fresh one: close to it, and changed
    diff = jax.tree.map(lambda a, b: float(np.abs(np.asarray(a) - np.asarray(b)).max()), start, after)
    assert 0 < max(jax.tree.leaves(diff)) < 0.05
    rc = main(["video", str(setup["frames"]), "--model", str(other), "--net1", str(moved), "--style", "a",
               "--out", str(tmp_path / "o.mp4"), "--quiet"])
    assert rc == 0
    capsys.readouterr()
    bad = main(["train", "video", "--config", "video-tiny", "--init", str(tmp_path / "nope"), "--model", str(other),
                "--style", "a", "--out", str(tmp_path / "x"), "--quiet"])
    assert bad == 2 and "not a Net1 directory" in capsys.readouterr().err


def _still_clip(root, name, size=48):
    """A folder of six identical frames (a still scene), written as a user would have them."""
    frame = skimage.data.astronaut()[::4, ::4][:size, :size]
    folder = root / name
    with frame_io.FrameWriter(str(folder) + "/", 10) as w:
        for _ in range(6):
            w.write(frame)
    return folder


@pytest.mark.parametrize("composition", ["output", "feature"])
def test_still_frames_give_still_output(setup, tmp_path, composition):
    still = _still_clip(tmp_path, "still")
    out = tmp_path / "out"
    assert main(["video", str(still), "--model", str(setup["model"]), "--net1", str(setup["net1"]), "--style", "a",
                 "--composition", composition, "--out", str(out) + "/", "--quiet"]) == 0
    frames = [np.asarray(f) for f in frame_io.open_frames(out)[1]]
    assert len(frames) == 6
    for f in frames[1:]:
        np.testing.assert_array_equal(f, frames[0])


def test_still_frames_give_still_output_with_the_shipped_net1(tmp_path):
    """The shipped Net₁ and its StyleBank (the CLI's defaults), six identical frames: identical output."""
    still = _still_clip(tmp_path, "still", 64)
    out = tmp_path / "out"
    assert main(["video", str(still), "--style", "starry-night", "--out", str(out) + "/", "--quiet"]) == 0
    frames = [np.asarray(f) for f in frame_io.open_frames(out)[1]]
    assert len(frames) == 6 and frames[0].std() > 0.02
    assert max(np.abs(f - frames[0]).max() for f in frames[1:]) <= 1 / 255 + 1e-6


def test_ruder_method_writes_every_frame(setup, tmp_path, capsys):
    from styljax.io import weights
    from styljax.nets import vgg

    w = tmp_path / "vgg.npz"
    weights.save_npz(vgg.random_weights(16, jax.random.key(0)), w)
    painting = tmp_path / "painting.png"
    from styljax.io import image

    image.save_image(painting, skimage.data.coffee()[::8, ::8])
    out = tmp_path / "ruder"
    rc = main(["video", str(setup["frames"]), "--method", "ruder", "--style", str(painting), "--net1", str(setup["net1"]),
               "--weights", str(w), "--size", "32", "--max-frames", "3", "--steps", "2", "--first-steps", "3",
               "--out", str(out) + "/", "--quiet"])
    assert rc == 0 and "3 frames" in capsys.readouterr().out
    frames = [np.asarray(f) for f in frame_io.open_frames(out)[1]]
    assert len(frames) == 3 and frames[0].shape == (32, 32, 3)


@pytest.mark.parametrize("extra,needle", [(["--style", "nope.png"], "painting file"),
                                          (["--style", "{painting}", "--side-by-side"], "--method net1")])
def test_ruder_errors(setup, tmp_path, capsys, extra, needle):
    painting = tmp_path / "p.png"
    from styljax.io import image

    image.save_image(painting, skimage.data.coffee()[::8, ::8])
    extra = [x.replace("{painting}", str(painting)) for x in extra]
    rc = main(["video", str(setup["frames"]), "--method", "ruder", "--out", str(tmp_path / "o.mp4"), "--quiet"] + extra)
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err


def test_arbitrary_method_still_scene_and_motion(tmp_path, capsys):
    """`--method arbitrary` on a painting file (a random arbitrary-style model, the shipped Net₁'s
    flow net): six identical frames give identical output; a moving clip writes every frame."""
    from styljax.io import image
    from styljax.nets import arbitrary as ar
    from styljax.stores import arbitrary_store

    cfg = ar.ArbitraryConfig()
    model = tmp_path / "arb"
    arbitrary_store.STORE.save_model(model, {**ar.init(jax.random.key(2), cfg), "styles": {}}, cfg,
                                     {"method": "arbitrary"})
    painting = tmp_path / "painting.png"
    image.save_image(painting, skimage.data.coffee()[::8, ::8])
    still = _still_clip(tmp_path, "still", 48)
    out = tmp_path / "out"
    assert main(["video", str(still), "--method", "arbitrary", "--model", str(model), "--style", str(painting),
                 "--out", str(out) + "/", "--quiet"]) == 0
    frames = [np.asarray(f) for f in frame_io.open_frames(out)[1]]
    assert len(frames) == 6 and frames[0].std() > 0.01
    for f in frames[1:]:
        np.testing.assert_array_equal(f, frames[0])
    clip = synthetic.eval_clips([data.as_rgb01(skimage.data.astronaut())], 48, 4, seed=1)[0]
    moving = tmp_path / "moving"
    with frame_io.FrameWriter(str(moving) + "/", 10) as w:
        for f in clip["frames"]:
            w.write(f)
    assert main(["video", str(moving), "--method", "arbitrary", "--model", str(model), "--style", str(painting),
                 "--out", str(tmp_path / "m.gif"), "--quiet"]) == 0
    assert "4 frames" in capsys.readouterr().out
