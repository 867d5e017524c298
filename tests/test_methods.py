"""The registry of methods (`styljax.methods`): every entry's pieces resolve and fit together,
names and models find their method, unknown names fail with one clear line, and the shipped
checkpoints are found in one place (`styljax.checkpoints`)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from styljax import checkpoints, methods
from styljax.errors import StyljaxError

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", methods.named())
def test_every_entry_resolves(name):
    m = methods.get(name)
    if m.stylize is not None:
        assert callable(m._load("stylize"))
    if m.renderer is not None:
        from styljax.render import Renderer, StyleStoreRenderer

        cls = m._load("renderer")
        assert issubclass(cls, StyleStoreRenderer) and not getattr(cls, "__abstractmethods__", None)
        declared = [a for a, v in vars(Renderer).items() if not a.startswith("_") and (callable(v) or isinstance(v, property))]
        assert len(declared) >= 12 and all(hasattr(cls, a) for a in declared)
    if m.store is not None:
        from styljax.models.style_store import StyleStore

        store = m.open_store()
        assert isinstance(store, StyleStore) and store.format == m.model_format
    if m.task is not None:
        task = m.task_class()
        assert callable(task.train_step) and callable(task.init_state)
    if m.trainer is not None:
        parsers = argparse.ArgumentParser().add_subparsers(dest="method")
        m.register_trainer(parsers)
        assert list(parsers.choices) == [name]
        assert parsers.choices[name].get_default("config") == m.default_config
        # the --help names (no JAX) are the experiment table's, and each name looks up its own entry
        table = m.experiments()
        assert m.config_names == tuple(table)
        assert all(m.experiment(c) is table[c] for c in table)


def test_capabilities_partition_the_methods():
    assert methods.named("stylize") == ("gatys", "stylebank", "cin", "johnson", "arbitrary", "photo")
    assert methods.named("renderer") == ("stylebank", "cin", "johnson", "arbitrary")
    assert methods.named("train") == ("stylebank", "cin", "johnson", "video")
    assert methods.named("add-style") == ("stylebank", "cin", "arbitrary")
    # a renderer implies a store, a default model and stylize; optimisation methods have neither
    for m in map(methods.get, methods.named()):
        if m.renderer:
            assert m.store and m.default_model and m.kind == "feedforward" and m.has("stylize")
        if m.kind == "optimisation":
            assert m.stylize and not m.renderer and not m.store


def test_unknown_names_give_one_clear_line():
    with pytest.raises(StyljaxError, match=r"^--method: expected one of gatys, stylebank, cin, johnson, arbitrary, photo, "
                                           r"got 'stylebnak' \(did you mean stylebank\?\)$"):
        methods.get("stylebnak", "stylize")
    with pytest.raises(StyljaxError, match=r"^--method: expected one of .*got 'video'$"):
        methods.get("video", "stylize")  # a method, but not one stylize runs
    with pytest.raises(StyljaxError, match=r"^--config: unknown CIN experiment 'paper'; known: kodak, identity, kodak-wiki-render, render-soft, add-style, tiny$"):
        methods.get("cin").experiment("paper")
    with pytest.raises(ValueError):
        methods.named("fly")


def test_for_manifest_tells_methods_apart():
    assert methods.for_manifest({"format": "styljax-stylebank/1"}).name == "stylebank"
    assert methods.for_manifest({"format": "styljax-transform/1", "method": "johnson"}).name == "johnson"
    assert methods.for_manifest({"format": "styljax-transform/1", "method": "cin"}).name == "cin"
    assert methods.for_manifest({"format": "styljax-transform/1"}).name == "cin"  # older manifests
    with pytest.raises(StyljaxError, match=r"^m: unknown model format 'nope/1'$"):
        methods.for_manifest({"format": "nope/1"}, "m")


def test_open_renderer_and_store_from_a_model(tiny_models, tmp_path):
    from styljax.models import transform_store
    from styljax.models.style_store import open_store

    from styljax.render import Renderer

    r = methods.open_renderer(tiny_models["cin"])
    assert r.method == "cin" and r.styles == ["blue", "green", "red"]
    assert isinstance(r, Renderer) and r.manifest["method"] == "cin" and r.kmeans_regions is False
    assert methods.open_renderer(tiny_models["stylebank"]).method == "stylebank"
    assert open_store(tiny_models["cin"]) is transform_store.STORE
    # opened as another method's model: refused by the renderer's own check
    with pytest.raises(StyljaxError, match="a cin model, not johnson"):
        methods.get("johnson").open_renderer(tiny_models["cin"])
    net1 = tmp_path / "net1"
    net1.mkdir()
    (net1 / "manifest.json").write_text(json.dumps({"format": "styljax-video-net1/1"}))
    with pytest.raises(StyljaxError, match="no named styles"):
        open_store(net1)
    with pytest.raises(StyljaxError, match="renders no images"):
        methods.open_renderer(net1)


def test_registry_imports_no_jax():
    code = "import sys, styljax.methods, styljax.checkpoints; print(sorted(m for m in ('jax', 'flax', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------ checkpoints


def test_checkpoints_env_var_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(checkpoints.ENV, str(tmp_path))
    assert checkpoints.root() == tmp_path
    assert methods.get("cin").default_model_path() == tmp_path / "cin"
    monkeypatch.setenv(checkpoints.ENV, str(tmp_path / "missing"))
    with pytest.raises(StyljaxError, match=r"^\$STYLJAX_CHECKPOINTS=.*missing: not a folder$"):
        checkpoints.root()
    assert checkpoints.describe("cin") == "checkpoints/cin"  # --help never fails


def test_checkpoints_checkout_then_installed_then_error(tmp_path, monkeypatch):
    monkeypatch.delenv(checkpoints.ENV, raising=False)
    assert checkpoints.root() == ROOT / "checkpoints"  # this checkout's
    monkeypatch.setattr(checkpoints, "CHECKOUT", tmp_path / "nowhere" / "checkpoints")
    monkeypatch.setattr(checkpoints, "INSTALLED", tmp_path / "_checkpoints")
    with pytest.raises(StyljaxError, match=r"no shipped models found .* set \$STYLJAX_CHECKPOINTS"):
        checkpoints.root()
    (tmp_path / "_checkpoints").mkdir()
    assert checkpoints.model_dir("stylebank") == tmp_path / "_checkpoints" / "stylebank"
