"""The newcomer's demo and the shipped StyleBank model (`checkpoints/stylebank`, part of the repo)."""

from pathlib import Path

import jax
import numpy as np
import pytest

from styljax.infer.cli import main
from styljax.io import image
from styljax.nets import stylebank as sb
from styljax.stores import stylebank_store

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "stylebank"


@pytest.fixture(scope="module")
def shipped():
    return stylebank_store.load_model(SHIPPED)


def test_shipped_model_has_six_trained_and_one_added_style(shipped):
    params, cfg, manifest = shipped
    assert cfg == sb.StyleBankConfig(output="sigmoid")  # the paper's architecture, bounded output (train/configs "kodak")
    assert len(params["banks"]) == 7 == len(manifest["styles"])
    assert set(manifest["provenance"]["added_styles"]) <= set(params["banks"])
    assert len(manifest["provenance"]["added_styles"]) == 1
    # every bank is the paper's 3x3 128->128 conv (+ bias): 0.5625 MiB of fp32 kernel
    for bank in params["banks"].values():
        assert [k.shape for k in jax.tree.leaves(bank) if k.ndim == 4] == [(3, 3, 128, 128)]


def test_shipped_styles_differ_from_each_other(shipped):
    params, cfg, _ = shipped
    x = np.random.default_rng(0).uniform(size=(1, 40, 48, 3)).astype(np.float32)
    outs = np.asarray(sb.render_all(params, x, cfg, tuple(sorted(params["banks"])), clip=True))
    assert outs.shape == (7, 1, 40, 48, 3) and np.isfinite(outs).all()
    for i in range(7):
        for j in range(i):
            assert np.abs(outs[i] - outs[j]).mean() > 0.02, "two banks render the same image"


def test_demo_writes_every_style_and_both_fusions(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out-dir", str(out), "--size", "96"]) == 0
    names = stylebank_store.list_styles(SHIPPED)  # the files in banks/ are the styles
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == sorted([f"astronaut_{n}.png" for n in names] + ["astronaut_linear_fusion.png",
                                                                   "astronaut_region_fusion.png"])
    sheet = image.load_image(out / "stylebank_contact_sheet.jpg")
    assert sheet.shape[0] > 96 and sheet.shape[1] > 5 * 96
    assert "demo done" in capsys.readouterr().out


def test_demo_bad_method_is_one_line_error(capsys):
    assert main(["demo", "--method", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("styljax:") and "\n" not in err
