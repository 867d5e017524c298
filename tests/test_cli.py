"""The `styljax` command: exit codes, one-line errors, outputs written."""

import subprocess
import sys

import jax
import numpy as np
import pytest

from styljax.infer.cli import main
from styljax.io import image, weights
from styljax.nets import vgg


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    image.save_image(d / "content.png", rng.uniform(size=(24, 32, 3)))
    image.save_image(d / "style.png", rng.uniform(size=(20, 20, 3)))
    image.save_image(d / "style2.png", rng.uniform(size=(20, 20, 3)))
    weights.save_npz(vgg.random_weights(16, jax.random.key(0)), d / "vgg.npz")
    (d / "notimage.png").write_text("hello")
    data = (d / "content.png").read_bytes()
    (d / "truncated.png").write_bytes(data[: len(data) // 2])
    return d


def _stylize(files, *extra, out="out.png"):
    return [
        "stylize", "--method", "gatys", "--content", str(files / "content.png"),
        "--style", str(files / "style.png"), "--out", str(files / out),
        "--weights", str(files / "vgg.npz"), "--size", "32", "--scales", "1", "--quiet",
        "--content-layers", "relu2_1", "--style-layers", "relu1_1,relu2_1", *extra,
    ]


def _err_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("styljax: ")
    return err[0]


def test_gatys_writes_output_and_snapshots(files, capsys):
    rc = main(_stylize(files, "--steps", "4", "--snapshot-every", "2", "--optimizer", "adam"))
    assert rc == 0
    out = image.load_image(files / "out.png")
    assert out.shape == (24, 32, 3)
    assert (files / "out_step00002.png").exists() and (files / "out_step00004.png").exists()
    assert "wrote" in capsys.readouterr().out
    assert not [p for p in files.iterdir() if p.name.startswith(".")], "temp files left behind"


def test_resume_from_snapshot_and_blend(files):
    args = _stylize(files, "--steps", "2", "--init", str(files / "out_step00002.png"), out="resumed.png")
    args[args.index("--style") + 1 : args.index("--style") + 2] = [str(files / "style.png"), str(files / "style2.png")]
    assert main(args + ["--style-blend", "0.7,0.3"]) == 0
    assert (files / "resumed.png").exists()


@pytest.mark.parametrize(
    "patch, needle",
    [
        ({"--content": "missing.png"}, "missing.png"),
        ({"--content": "notimage.png"}, "notimage.png"),
        ({"--content": "truncated.png"}, "truncated.png"),
        ({"--optimizer": "sgd"}, "--optimizer"),
        ({"--method": "nope"}, "--method"),
        ({"--out": "out.xyz"}, "out.xyz"),
        ({"--style-layers": "relu9_9"}, "relu9_9"),
        ({"--steps": "a,b"}, "--steps"),
    ],
)
def test_bad_input_one_line_exit_2(files, capsys, patch, needle):
    args = _stylize(files, "--steps", "1")
    for flag, value in patch.items():
        full = value if flag == "--optimizer" or flag == "--method" or flag == "--steps" or flag == "--style-layers" else str(files / value)
        if flag in args:
            args[args.index(flag) + 1] = full
        else:
            args += [flag, full]
    assert main(args) == 2
    assert needle in _err_line(capsys)


def test_missing_weights_names_the_fetch_command(files, tmp_path, capsys):
    args = _stylize(files, "--steps", "1")
    i = args.index("--weights")
    del args[i : i + 2]
    assert main(args + ["--cache-dir", str(tmp_path)]) == 2
    assert "styljax weights fetch" in _err_line(capsys)


def test_weights_info(files, capsys):
    assert main(["weights", "info", "--weights", str(files / "vgg.npz")]) == 0
    out = capsys.readouterr().out
    assert "VGG-16" in out and "conv5_3: kernel (3, 3, 512, 512)" in out


def test_console_script_no_traceback(files):
    """The installed entry point: exit status 2 and a single stderr line, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "infer", "stylize", "--content", str(files / "nope.jpg"),
         "--style", str(files / "style.png"), "--out", str(files / "x.png")],
        capture_output=True, text=True, timeout=900,  # a hang guard only
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "nope.jpg" in proc.stderr


# ------------------------------------------------------------------------ rough edges (issue #21)


def _feedforward(tiny_models, *inputs, out, style="red", quiet=True, extra=()):
    return ["stylize", "--method", "stylebank", "--model", str(tiny_models["stylebank"]), "--style", style,
            *map(str, inputs), "--out", str(out), *(["--quiet"] if quiet else []), *extra]


@pytest.mark.parametrize("argv, needle", [
    (["--style", "wave", "content.png"], "'wave' is not an image file"),  # a model's style, no --method
    (["--style", "style.png", "content.png"], "no --content PHOTO"),  # argparse gave the photo to --style
])
def test_stylize_without_method_names_it(files, tmp_path, capsys, argv, needle):
    argv = [str(files / a) if a.endswith(".png") else a for a in argv]
    assert main(["stylize", *argv, "--out", str(tmp_path / "x.png")]) == 2
    line = _err_line(capsys)
    assert "no --method given, so gatys" in line and "--method stylebank|cin|johnson" in line and needle in line


@pytest.mark.parametrize("hw, size, needle", [
    ((1, 1), "256", "is 1x1; at least 16 px on each side"),
    ((8, 40), None, "is 40x8; at least 16 px on each side"),
    ((20, 400), "64", "resized to 64x3 has a side under 16 px"),
])
def test_tiny_input_refused(tiny_models, tmp_path, capsys, hw, size, needle):
    image.save_image(tmp_path / "tiny.png", np.full(hw + (3,), 0.5))
    extra = ["--size", size] if size else []
    assert main(_feedforward(tiny_models, tmp_path / "tiny.png", out=tmp_path / "x.png", extra=extra)) == 2
    assert needle in _err_line(capsys) and not (tmp_path / "x.png").exists()


def test_error_after_progress_bar_has_its_own_line(tiny_models, files, tmp_path, capsys):
    """A folder with a truncated image: the bar is closed before the message, which starts its
    own line, and no second bar is drawn after it."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "a_good.png").write_bytes((files / "content.png").read_bytes())
    (d / "b_truncated.png").write_bytes((files / "truncated.png").read_bytes())
    assert main(_feedforward(tiny_models, d, out=tmp_path / "out", quiet=False) + ["--strict"]) == 2
    err = capsys.readouterr().err
    assert "stylebank" in err and "0/2" in err  # the bar was drawn
    errors = [line for line in err.split("\n") if "styljax:" in line]
    assert len(errors) == 1 and errors[0].startswith("styljax: ") and "b_truncated.png" in errors[0], err
    assert err.endswith(errors[0] + "\n"), err  # nothing after the message
    # without --strict the folder run goes on: the bad file's line and the summary, each a line of its own
    assert main(_feedforward(tiny_models, d, out=tmp_path / "out", quiet=False)) == 1
    err = capsys.readouterr().err
    # as a terminal shows it: a carriage return starts the line over (tqdm clears the bar that way)
    errors = [line.split("\r")[-1] for line in err.split("\n") if "styljax:" in line]
    assert len(errors) == 2 and all(e.startswith("styljax: ") for e in errors), err
    assert "b_truncated.png" in errors[0] and errors[0].endswith("(skipped)") and "1 of 2 input(s) failed" in errors[1]
    assert err.endswith(errors[1] + "\n"), err
    assert [p.name for p in (tmp_path / "out").glob("*.png")] == ["a_good_red.png"]


def test_styles_list_defaults_to_the_shipped_model(capsys):
    from styljax.io import checkpoints

    assert main(["styles", "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(str(checkpoints.model_dir("stylebank"))) and "  wave  (" in out
