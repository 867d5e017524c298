"""Packaging: `train/` and `infer/` install as `styljax.train` and `styljax.infer`, pyproject lists
every package, the library names no program, and the training programs import nothing from the
inference ones."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for d in ("styljax", "train", "infer", "bench", "tests") for p in (ROOT / d).rglob("*.py"))


def imported_modules(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `path` (or in `text`, as if it were that
    file), relative ones resolved against its installed package (train/ is styljax.train)."""
    rel = path.relative_to(ROOT).with_suffix("")
    package = ["styljax", *rel.parts[:-1]] if rel.parts[0] in ("train", "infer") else list(rel.parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text() if text is None else text, str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            out += [(node.lineno, module)] + [(node.lineno, f"{module}.{a.name}") for a in node.names]
    return out


def test_training_programs_import_nothing_from_infer():
    bad = [f"{p.relative_to(ROOT)}:{line} {m}" for p in sorted((ROOT / "train").rglob("*.py"))
           for line, m in imported_modules(p) if m == "styljax.infer" or m.startswith(("styljax.infer.", "infer"))]
    assert not bad, f"train/ imports infer/: {bad}"


def test_nothing_imports_the_old_top_level_names():
    bad = [f"{p.relative_to(ROOT)}:{line} {m}" for p in SOURCES for line, m in imported_modules(p)
           if m.split(".")[0] in ("train", "infer")]
    assert not bad, f"import styljax.train / styljax.infer instead: {bad}"


def test_the_library_names_no_program():
    """Nothing under styljax/ imports, or points a registry string at, the programs (train/, infer/,
    bench/), and importing the package installs no import hook."""
    import re
    import subprocess
    import sys

    programs = ("styljax.train", "styljax.infer", "train", "infer", "bench")
    library = sorted((ROOT / "styljax").rglob("*.py"))
    bad = [f"{p.relative_to(ROOT)}:{line} {m}" for p in library for line, m in imported_modules(p)
           if m in programs or m.startswith(tuple(f"{x}." for x in programs))]
    refs = re.compile(r"[\"'](?:styljax\.)?(?:train|infer|bench)\.[\w.]+(?::\w+)?[\"']")
    bad += [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in library for m in refs.finditer(p.read_text())]
    assert not bad, f"the library names a program: {bad}"
    code = "import sys; before = list(sys.meta_path); import styljax, styljax.methods; print(sys.meta_path == before)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_imported_modules_resolves_relative_imports():
    text = "from . import configs\nfrom ..infer import common\nimport os\ndef f():\n    from infer.demo import x\n"
    got = {m for _, m in imported_modules(ROOT / "train" / "probe.py", text)}
    assert {"styljax.train.configs", "styljax.infer", "styljax.infer.common", "os", "infer.demo"} <= got


def test_pyproject_lists_every_package_and_maps_the_programs():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    st = cfg["tool"]["setuptools"]
    library = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "styljax").rglob("__init__.py")}
    assert set(st["packages"]) == library | {"styljax.train", "styljax.infer", "styljax._checkpoints"}
    assert st["package-dir"] == {"styljax.train": "train", "styljax.infer": "infer", "styljax._checkpoints": "checkpoints"}
    assert cfg["project"]["scripts"]["styljax"] == "styljax.infer.cli:main"
    assert not any(p.split(".")[0] in ("train", "infer") for p in st["packages"])


def test_checkout_imports_its_own_programs():
    import styljax.infer.cli
    import styljax.train.configs

    assert Path(styljax.train.configs.__file__) == ROOT / "train" / "configs.py"
    assert Path(styljax.infer.cli.__file__) == ROOT / "infer" / "cli.py"


@pytest.mark.parametrize("method", ["stylebank", "cin", "johnson", "video"])
def test_shipped_models_are_package_data(method):
    """Every file a shipped model needs matches the package-data globs (so `pip install .` has it)."""
    from fnmatch import fnmatch

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["styljax._checkpoints"]
    folder = ROOT / "checkpoints" / method
    needed = [p for p in folder.rglob("*") if p.suffix in (".npz", ".json") and p.name != "train_metrics.jsonl"]
    assert needed
    for p in needed:
        rel = p.relative_to(ROOT / "checkpoints").as_posix()
        assert any(fnmatch(rel, g) for g in globs), rel


def test_wheel_builds_without_warnings(tmp_path):
    """The build prints no setuptools warnings: the data folders (checkpoints/*, infer/static) are
    package data, not unlisted packages (issue #34: ~400 lines of `Package ... is absent from the
    packages configuration` on every install), and the wheel still holds the page and the models."""
    import shutil
    import subprocess
    import sys
    import zipfile

    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__}: the build needs >= 77 (the dev extra has it)")
    src = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "train_metrics*.jsonl")
    for name in ("styljax", "train", "infer", "checkpoints"):
        shutil.copytree(ROOT / name, src / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    out = tmp_path / "dist"
    run = subprocess.run([sys.executable, "-W", "default", "-c",
                          f"from setuptools import build_meta as b; b.build_wheel({str(out)!r})"],
                         cwd=src, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    log = run.stdout + run.stderr
    warnings = [l for l in log.splitlines() if "Warning" in l or "absent from" in l]
    assert not warnings, "\n".join(warnings[:10])
    names = set(zipfile.ZipFile(next(out.glob("*.whl"))).namelist())
    assert "styljax/infer/static/index.html" in names
    assert {"styljax/_checkpoints/cin/manifest.json", "styljax/_checkpoints/cin/styles/wave.npz",
            "styljax/_checkpoints/stylebank/banks/wave.npz", "styljax/_checkpoints/video/net1.npz"} <= names
