"""JAX's persistent compilation cache (`styljax.runtime.compile_cache`): where it lives, that the suite
never writes into the user's cache, and that a second run of a command compiles nothing."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np

from styljax.io import image, weights
from styljax.runtime import compile_cache

ROOT = Path(__file__).resolve().parent.parent


def test_suite_uses_a_private_cache():
    """tests/conftest.py points $STYLJAX_CACHE at a temporary directory."""
    cache = weights.cache_dir()
    assert Path(os.environ["STYLJAX_CACHE"]) == cache
    assert cache.is_relative_to(tempfile.gettempdir()) and cache != Path.home() / ".cache" / "styljax"


def test_default_path_and_switches(monkeypatch, tmp_path):
    monkeypatch.setenv("STYLJAX_CACHE", str(tmp_path / "c"))
    monkeypatch.delenv(compile_cache.ENV, raising=False)
    assert compile_cache.default_path() == tmp_path / "c" / "jax"
    monkeypatch.setenv(compile_cache.ENV, str(tmp_path / "elsewhere"))
    assert compile_cache.default_path() == tmp_path / "elsewhere"
    monkeypatch.setenv(compile_cache.ENV, "0")
    assert compile_cache.default_path() is None and compile_cache.enable() is None


def test_enable_caches_every_compilation(monkeypatch, tmp_path):
    before = jax.config.jax_compilation_cache_dir
    try:
        assert compile_cache.enable(tmp_path / "jc") == tmp_path / "jc"
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "jc")
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 0
        jax.jit(lambda x: x * 3.0 + 1.0)(np.arange(7, dtype=np.float32)).block_until_ready()  # a quick one
        assert [p for p in (tmp_path / "jc").iterdir() if p.name.startswith("jit_")]
    finally:
        compile_cache.enable(before) if before else compile_cache.disable()


def test_second_run_compiles_nothing(tiny_models, tmp_path):
    """The same `styljax stylize` twice, in fresh processes: every compilation of the second run
    is a persistent-cache hit, and the cache gains no entry."""
    image.save_image(tmp_path / "p.png", np.random.default_rng(0).uniform(size=(40, 56, 3)))
    env = {**os.environ, "STYLJAX_CACHE": str(tmp_path / "cache"), "JAX_LOG_COMPILES": "1"}
    cmd = [sys.executable, "-m", "styljax.infer.cli", "stylize", "--method", "stylebank", "--model",
           str(tiny_models["stylebank"]), "--style", "red", str(tmp_path / "p.png"), "--out",
           str(tmp_path / "x.png"), "--quiet"]

    def run() -> tuple[int, int]:
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stderr.count("Finished XLA compilation"), proc.stderr.count("Persistent compilation cache hit")

    compiled, hits = run()
    assert compiled > 0 and hits == 0
    entries = sorted(p.name for p in (tmp_path / "cache" / "jax").iterdir())
    assert len(entries) >= 2  # the encoder+bank and the decoder programs at least
    assert run() == (compiled, compiled)  # every program loaded, none compiled
    assert sorted(p.name for p in (tmp_path / "cache" / "jax").iterdir()) == entries
