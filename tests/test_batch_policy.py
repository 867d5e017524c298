"""`styljax serve`'s batch limit from a measurement: the policy on fake timing tables, the cache,
and the flag that overrides it. No wall-clock assertions: clocks and timings are faked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from styljax.infer import batch_policy, serve, serve_app
from styljax.infer.cli import main


@pytest.mark.parametrize("table, want", [
    ({1: 0.20, 2: 0.21, 4: 0.25}, 1),  # a CPU: batching costs per image
    ({1: 0.10, 2: 0.06, 4: 0.035}, 4),  # an accelerator: batching pays
    ({1: 0.10, 2: 0.07, 4: 0.069}, 2),  # 4 is not enough better than 2 for the latency it adds
    ({1: 0.100, 2: 0.098, 4: 0.097}, 1),  # within the tolerance of batch 1
    ({4: 0.3, 1: 0.2, 2: 0.1}, 2),  # order of the table does not matter
    ({}, 1),
])
def test_pick_max_batch(table, want):
    assert batch_policy.pick_max_batch(table) == want


def test_pick_max_batch_tolerance():
    table = {1: 0.100, 2: 0.098}
    assert batch_policy.pick_max_batch(table, tolerance=0.0) == 2
    assert batch_policy.pick_max_batch(table, tolerance=0.05) == 1


def test_time_per_image_on_a_fake_clock(monkeypatch):
    """The fastest repeat over n images, per image; the first (compiling) call is not counted."""
    clock = [0.0]
    cost = {1: [9.0, 0.3, 0.2, 0.25], 2: [9.0, 0.5, 0.45, 0.6]}  # per call, in call order
    calls = {1: 0, 2: 0}

    def run(n):
        clock[0] += cost[n][calls[n]]
        calls[n] += 1

    monkeypatch.setattr(batch_policy.time, "perf_counter", lambda: clock[0])
    got = batch_policy.time_per_image(run, sizes=(1, 2), repeats=3)
    assert got == pytest.approx({1: 0.2, 2: 0.225})
    assert calls == {1: 4, 2: 4}


def test_auto_max_batch_measures_once_and_caches(tiny_models, tmp_path, monkeypatch):
    measured = []

    def fake_time(run, sizes=batch_policy.MEASURED_SIZES, repeats=3):
        measured.append(sizes)
        return {1: 0.2, 2: 0.15, 4: 0.16}

    monkeypatch.setattr(batch_policy, "time_per_image", fake_time)
    monkeypatch.setattr(batch_policy, "serve_batch_runner", lambda model, hw: None)
    model = serve_app.load_models(tiny_models)["stylebank"]
    cache, lines = tmp_path / "policy.json", []
    args = (model, tiny_models["stylebank"], (64, 64), cache, lines.append)
    assert batch_policy.auto_max_batch(*args) == 2
    assert batch_policy.auto_max_batch(*args) == 2  # from the cache: not measured again
    assert len(measured) == 1 and "max batch 2" in lines[0] + lines[-1] and "cached" in lines[-1]
    (entry,) = json.loads(cache.read_text()).values()
    assert entry["max_batch"] == 2 and entry["per_image_s"]["4"] == 0.16
    assert batch_policy.auto_max_batch(model, tiny_models["stylebank"], (128, 128), cache, lines.append) == 2
    assert len(measured) == 2  # another size is another measurement
    cache.write_text("not json")  # a damaged cache is measured again, not an error
    assert batch_policy.auto_max_batch(*args) == 2 and len(measured) == 3


def test_serve_batch_runner_renders_a_batch(tiny_models):
    model = serve_app.load_models(tiny_models)["cin"]
    out = batch_policy.serve_batch_runner(model, (32, 48))(2)
    assert out.shape == (2, 32, 48, 3) and np.isfinite(np.asarray(out)).all()


@pytest.mark.parametrize("flag, measured", [([], True), (["--max-batch", "2"], False)])
def test_serve_flag_overrides_the_measurement(tiny_models, monkeypatch, flag, measured):
    seen = {}

    def fake_auto(models, paths, cfg):
        seen["auto"] = True
        return 1

    def fake_create_app(models, cfg, sharding=None, **kw):
        seen["max_batch"] = cfg.max_batch
        raise SystemExit(0)  # stop before the server starts

    monkeypatch.setattr(serve, "auto_batch", fake_auto)
    monkeypatch.setattr(serve_app, "create_app", fake_create_app)
    with pytest.raises(SystemExit):
        main(["serve", "--model", f"sb={tiny_models['stylebank']}", "--warmup", "none", *flag])
    assert seen.get("auto", False) == measured
    assert seen["max_batch"] == (1 if measured else 2)
