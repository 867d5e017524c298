"""Run directories written before the one train step (issue #32; checkpoints made by commit fbcbdcd's
`styljax train stylebank|cin --config tiny --steps 3` and `train video --config video-tiny --steps 2`,
`tests/data/legacy_runs/`) still resume: their checkpoints restore onto today's tasks, and the run
goes on from the step it stopped at."""

import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from styljax.infer.cli import main
from styljax.io import image, weights
from styljax.nets import vgg

LEGACY = Path(__file__).resolve().parent / "data" / "legacy_runs"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The inputs the legacy runs were made with (the same generator, seed and order)."""
    d = tmp_path_factory.mktemp("legacy")
    rng = np.random.default_rng(0)
    for i in range(3):
        image.save_image(d / "content" / f"photo{i}.png", np.kron(rng.uniform(size=(6, 8, 3)), np.ones((8, 8, 1))))
    for name in ("red", "blue"):
        image.save_image(d / "styles" / f"{name}.png", rng.uniform(size=(24, 24, 3)))
    weights.save_npz(vgg.random_weights(16, jax.random.key(0)), d / "vgg.npz")
    return d


def _argv(which: str, d: Path, run: Path, steps: int) -> list[str]:
    common = ["--content-dir", str(d / "content"), "--workdir", str(run), "--steps", str(steps), "--quiet"]
    if which == "video":
        return ["train", "video", "--config", "video-tiny", "--model", str(LEGACY / "sb_model"), "--style", "red",
                "--out", str(run.with_suffix("")), *common]
    return ["train", which, "--config", "tiny", "--styles", str(d / "styles"), "--weights", str(d / "vgg.npz"),
            "--out", str(run.with_suffix("")), *common]


@pytest.mark.parametrize("which, stopped_at", [("stylebank", 3), ("cin", 3), ("video", 2)])
def test_a_run_written_before_the_change_resumes(files, tmp_path, which, stopped_at):
    run = tmp_path / f"{which}.run"
    shutil.copytree(LEGACY / which, run)
    assert main(_argv(which, files, run, stopped_at + 2)) == 0
    logged = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logged == [stopped_at + 1, stopped_at + 2]  # went on from the checkpoint, did not start again
    assert sorted(int(p.name) for p in (run / "ckpt").iterdir() if p.name.isdigit())[-1] == stopped_at + 2
