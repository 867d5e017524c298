"""`styljax stylize` with a trained model before any work (issue #34): every input's header and
render size are checked against the pixel budget (`--max-pixels`) first, so `--size 99999` is one
line, not the kernel's out-of-memory killer; a folder run reports every bad file, writes the good
ones and exits 1 (`--strict`: stop at the first, exit 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from styljax.io import image
from styljax.infer.cli import main
from styljax.renderers.stylebank_renderer import StyleBankRenderer


def photo(path: Path, h: int = 40, w: int = 60, seed: int = 0) -> Path:
    return image.save_image(path, np.random.default_rng(seed).uniform(size=(h, w, 3)).astype(np.float32))


@pytest.fixture
def no_render(monkeypatch):
    """Any model load or render fails the test: the checks must come first."""
    def refuse(*a, **k):
        raise AssertionError("the model was loaded or ran before the inputs were checked")

    monkeypatch.setattr(StyleBankRenderer, "__init__", refuse)
    monkeypatch.setattr(StyleBankRenderer, "render", refuse)


def test_huge_size_exits_2_before_any_work_in_bounded_memory(tmp_path):
    """The issue's command, on the shipped model, in a process of its own: exit 2 with one line
    naming --size, --tile and --max-pixels; nothing compiled (JAX logs every compilation); its peak
    resident memory (the child's own rusage) is the interpreter's, not the 99999-px render's."""
    src = photo(tmp_path / "photo.png", 152, 400)
    env = {**os.environ, "JAX_LOG_COMPILES": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "styljax.infer.cli", "stylize", "--method", "stylebank",
                             "--size", "99999", str(src), "--style", "wave", "--out", str(tmp_path / "out.png")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    err = proc.stderr.read()  # a few lines: no pipe fills up
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("styljax: "), err
    assert "99999x38000" in lines[0] and all(f in lines[0] for f in ("--size", "--max-pixels", "--tile"))
    assert "Compiling" not in err and "Traceback" not in err
    assert not (tmp_path / "out.png").exists()
    assert usage.ru_maxrss * 1024 < 2 * 2**30, f"peak RSS {usage.ru_maxrss / 2**20:.2f} GiB"


def test_size_and_tile_checked_in_process(tmp_path, capsys, no_render):
    src = photo(tmp_path / "p.png")
    base = ["stylize", "--method", "stylebank", "--style", "wave", str(src), "--out", str(tmp_path / "o.png"), "--quiet"]
    assert main([*base, "--size", "99999"]) == 2
    err = capsys.readouterr().err
    assert "renders at 99999x66666" in err and "--max-pixels 64,000,000" in err and "--tile" in err
    assert main([*base, "--size", "200", "--max-pixels", "10000"]) == 2  # 200x133 = 26,600 px
    assert "over --max-pixels 10,000" in capsys.readouterr().err
    assert main([*base, "--tile", "9000"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("styljax: --tile 9000: a 9000x9000 tile is 81,000,000 pixels, over --max-pixels "
                           "64,000,000; give a smaller --tile or raise --max-pixels")
    assert main([*base, "--size", "-5"]) == 2
    assert capsys.readouterr().err.strip() == "styljax: --size must be at least 16 px, got -5"
    assert not (tmp_path / "o.png").exists()


def test_gatys_size_is_checked_too(tmp_path, capsys):
    src = photo(tmp_path / "p.png")
    assert main(["stylize", "--content", str(src), "--style", str(src), "--size", "-5", "--out", str(tmp_path / "o.png")]) == 2
    assert capsys.readouterr().err.strip() == "styljax: --size must be at least 16 px, got -5"
    assert main(["stylize", "--content", str(src), "--style", str(src), "--size", "99999", "--out", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert "resized to 99999x66666" in err and "--max-pixels" in err


@pytest.fixture
def folder(tmp_path):
    """Two good photos and three bad files: not an image, too small, truncated (header fine)."""
    d = tmp_path / "in"
    photo(d / "a_good.png", seed=1)
    photo(d / "e_good.png", seed=2)
    (d / "b_text.png").write_text("not an image\n")
    photo(d / "c_tiny.png", 8, 8)
    data = (d / "a_good.png").read_bytes()
    (d / "d_trunc.png").write_bytes(data[: len(data) // 2])
    return d


def test_folder_run_skips_every_bad_file(tiny_models, folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["stylize", "--method", "stylebank", "--model", str(tiny_models["stylebank"]), "--style", "red",
               str(folder), "--out", str(out), "--quiet"])
    assert rc == 1
    assert sorted(p.name for p in out.glob("*.png")) == ["a_good_red.png", "e_good_red.png"]
    err = capsys.readouterr().err.strip().splitlines()
    skipped = [l for l in err if l.endswith("(skipped)")]
    assert [l.split(":")[1].strip().rsplit("/", 1)[-1] for l in skipped] == ["b_text.png", "c_tiny.png", "d_trunc.png"]
    assert all(l.startswith("styljax: ") for l in err) and len(err) == 4
    assert "3 of 5 input(s) failed" in err[-1]


def test_folder_run_strict_stops_at_the_first(tiny_models, folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["stylize", "--method", "stylebank", "--model", str(tiny_models["stylebank"]), "--style", "red",
               str(folder), "--out", str(out), "--quiet", "--strict"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "b_text.png: not an image" in err[0]
    assert not list(out.glob("*.png"))


def test_one_bad_input_is_exit_2(tiny_models, folder, tmp_path, capsys):
    rc = main(["stylize", "--method", "stylebank", "--model", str(tiny_models["stylebank"]), "--style", "red",
               str(folder / "c_tiny.png"), "--out", str(tmp_path / "o.png"), "--quiet"])
    assert rc == 2 and "at least 16 px" in capsys.readouterr().err


def test_demo_size_checked_before_any_work(capsys, monkeypatch):
    import styljax.stores.stylebank_store as store

    def refuse(*a, **k):
        raise AssertionError("the model was loaded before --size was checked")

    monkeypatch.setattr(store, "load_model", refuse)
    assert main(["demo", "--size", "-5"]) == 2
    assert capsys.readouterr().err.strip() == "styljax: --size must be at least 16 px, got -5"
    assert main(["demo", "--size", "99999"]) == 2
    err = capsys.readouterr().err
    assert "--size 99999" in err and "over the limit of 64,000,000" in err
