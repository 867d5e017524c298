"""The registry of methods (`styljax.methods`): every entry's pieces resolve and fit together,
names and models find their method, unknown names fail with one clear line, and the shipped
checkpoints are found in one place (`styljax.io.checkpoints`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from styljax import methods
from styljax.io import checkpoints
from styljax.errors import StyljaxError
from styljax.train import configs

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", methods.named())
def test_every_entry_resolves(name):
    m = methods.get(name)
    if m.renderer is not None:
        from styljax.render import Renderer, StyleStoreRenderer

        cls = m._load("renderer")
        assert issubclass(cls, StyleStoreRenderer) and not getattr(cls, "__abstractmethods__", None)
        declared = [a for a, v in vars(Renderer).items() if not a.startswith("_") and (callable(v) or isinstance(v, property))]
        assert len(declared) >= 12 and all(hasattr(cls, a) for a in declared)
    if m.store is not None:
        from styljax.stores.style_store import StyleStore

        store = m.open_store()
        assert isinstance(store, StyleStore) and store.format == m.model_format
    if m.task is not None:
        task = m.task_class()
        assert all(callable(getattr(task, f)) for f in ("init_params", "loss", "phase", "phase_groups", "finish"))
        # every method that trains has configs, one of them its default
        assert configs.names(name) and configs.default(name).method == name


def test_capabilities_partition_the_methods():
    from styljax.infer.stylize import OPTIMISATION_RUNNERS

    assert methods.named("stylize") == ("gatys", "stylebank", "cin", "johnson", "texture-net", "arbitrary", "photo")
    assert methods.named("renderer") == ("stylebank", "cin", "johnson", "texture-net", "arbitrary")
    assert methods.named("train") == ("stylebank", "cin", "johnson", "texture-net", "video")
    # a renderer implies a store, a default model and stylize; optimisation methods have neither,
    # and `styljax stylize` has a runner for each of them
    for m in map(methods.get, methods.named()):
        if m.renderer:
            assert m.store and m.default_model and m.kind == "feedforward" and m.has("stylize")
        if m.kind == "optimisation":
            assert not m.renderer and not m.store and callable(OPTIMISATION_RUNNERS[m.name])
    assert set(OPTIMISATION_RUNNERS) == {m for m in methods.named() if methods.get(m).kind == "optimisation"}
    # every config's method trains, and the add-style configs are the multi-style feed-forward ones'
    assert {c.method for c in configs.CONFIGS} == set(methods.named("train"))
    assert [c.method for c in configs.CONFIGS if c.add_style] == ["stylebank", "cin"]


def test_unknown_names_give_one_clear_line():
    with pytest.raises(StyljaxError, match=r"^--method: expected one of gatys, stylebank, cin, johnson, texture-net, arbitrary, photo, "
                                           r"got 'stylebnak' \(did you mean stylebank\?\)$"):
        methods.get("stylebnak", "stylize")
    with pytest.raises(StyljaxError, match=r"^--method: expected one of .*got 'video'$"):
        methods.get("video", "stylize")  # a method, but not one stylize runs
    with pytest.raises(StyljaxError, match=r"^unknown config 'paper' of cin \(did you mean cin-kodak-wiki-render\?\)|"
                                           r"^unknown config 'paper' of cin; known: cin-kodak, "):
        configs.get_config("paper", "cin")
    with pytest.raises(StyljaxError, match=r"^unknown config 'stylebank-kodk' \(did you mean stylebank-kodak\?\)"):
        configs.get_config("stylebank-kodk")
    with pytest.raises(ValueError):
        methods.named("fly")
    with pytest.raises(ValueError, match="not a library piece"):
        methods.Method(name="x", title="x", help="x", kind="feedforward", renderer="infer.x:Y")


def test_for_manifest_tells_methods_apart():
    assert methods.for_manifest({"format": "styljax-stylebank/1"}).name == "stylebank"
    assert methods.for_manifest({"format": "styljax-transform/1", "method": "johnson"}).name == "johnson"
    assert methods.for_manifest({"format": "styljax-transform/1", "method": "cin"}).name == "cin"
    assert methods.for_manifest({"format": "styljax-transform/1"}).name == "cin"  # older manifests
    with pytest.raises(StyljaxError, match=r"^m: unknown model format 'nope/1'$"):
        methods.for_manifest({"format": "nope/1"}, "m")


def test_open_renderer_and_store_from_a_model(tiny_models, tmp_path):
    from styljax.stores import transform_store
    from styljax.render import Renderer

    r = methods.open_renderer(tiny_models["cin"])
    assert r.method == "cin" and r.styles == ["blue", "green", "red"]
    assert isinstance(r, Renderer) and r.manifest["method"] == "cin" and r.kmeans_regions is False
    assert methods.open_renderer(tiny_models["stylebank"]).method == "stylebank"
    assert methods.store_for_model(tiny_models["cin"]) is transform_store.STORE
    # opened as another method's model: refused by the renderer's own check
    with pytest.raises(StyljaxError, match="a cin model, not johnson"):
        methods.get("johnson").open_renderer(tiny_models["cin"])
    net1 = tmp_path / "net1"
    net1.mkdir()
    (net1 / "manifest.json").write_text(json.dumps({"format": "styljax-video-net1/1"}))
    with pytest.raises(StyljaxError, match="no named styles"):
        methods.store_for_model(net1)
    with pytest.raises(StyljaxError, match="renders no images"):
        methods.open_renderer(net1)


def test_registry_imports_no_jax():
    code = "import sys, styljax.methods, styljax.io.checkpoints; print(sorted(m for m in ('jax', 'flax', 'numpy') if m in sys.modules))"
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
