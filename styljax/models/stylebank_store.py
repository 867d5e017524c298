"""A StyleBank model on disk: an auto-encoder file plus one small file per style bank.

    MODEL/manifest.json        format, architecture config, loss-network facts, provenance
    MODEL/autoencoder.npz      {"encoder", "decoder"}          (see `styljax.store`)
    MODEL/banks/<style>.npz    one bank, with the auto-encoder's fingerprint in its meta

The styles of a model are the files in `banks/`, so adding, renaming, removing, exporting and
importing a style are single atomic file operations. A bank only makes sense with the auto-encoder
it was trained with: every bank records that auto-encoder's sha256 and `import_bank` refuses a
bank from a different one unless forced.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from styljax import store
from styljax.errors import StyljaxError
from styljax.image import atomic_write
from styljax.models.stylebank import StyleBankConfig

FORMAT = "styljax-stylebank/1"
BANK_FORMAT = "styljax-stylebank-bank/1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_style_name(name: str) -> str:
    """Style names become file names: letters, digits, '_', '-', '.', no path tricks."""
    if not _NAME.match(name) or name in (".", "..") or name.endswith(".npz"):
        raise StyljaxError(f"bad style name {name!r}: use letters, digits, '_', '-', '.' (max 64)")
    return name


def config_to_dict(cfg: StyleBankConfig) -> dict:
    d = dataclasses.asdict(cfg)
    d["channels"] = list(cfg.channels)
    d["dtype"] = jnp.dtype(cfg.dtype).name
    return d


def config_from_dict(d: dict) -> StyleBankConfig:
    d = dict(d)
    d["channels"] = tuple(d["channels"])
    d["dtype"] = jnp.dtype(d.get("dtype", "float32")).type
    return StyleBankConfig(**d)


def _np(tree: Any) -> Any:
    return jax.tree.map(lambda x: np.asarray(x, np.float32), tree)


def _model_dir(path: str | Path, must_exist: bool = True) -> Path:
    path = Path(path)
    if must_exist and not (path / "manifest.json").is_file():
        raise StyljaxError(f"{path}: not a StyleBank model (no manifest.json)")
    return path


def save_model(path: str | Path, params: dict, cfg: StyleBankConfig, meta: dict | None = None) -> Path:
    """Write a whole model (auto-encoder + every bank). Existing bank files not in params are removed."""
    path = _model_dir(path, must_exist=False)
    (path / "banks").mkdir(parents=True, exist_ok=True)
    ae = _np({"encoder": params["encoder"], "decoder": params["decoder"]})
    ae_sha = store.tree_sha256(ae)
    store.save_tree(path / "autoencoder.npz", ae, {"format": FORMAT, "config": config_to_dict(cfg)})
    for name, bank in params["banks"].items():
        _save_bank(path / "banks" / f"{check_style_name(name)}.npz", name, bank, ae_sha, cfg)
    for f in (path / "banks").glob("*.npz"):
        if f.stem not in params["banks"]:
            f.unlink()
    manifest = {**(meta or {}), "format": FORMAT, "config": config_to_dict(cfg), "autoencoder_sha256": ae_sha}
    atomic_write(path / "manifest.json", json.dumps(manifest, indent=2).encode())
    return path


def _save_bank(path: Path, name: str, bank: dict, ae_sha: str, cfg: StyleBankConfig) -> None:
    meta = {"format": BANK_FORMAT, "style": name, "autoencoder_sha256": ae_sha, "config": config_to_dict(cfg)}
    store.save_tree(path, _np(bank), meta)


def read_manifest(path: str | Path) -> dict:
    path = _model_dir(path)
    try:
        return json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        raise StyljaxError(f"{path}/manifest.json: unreadable ({e})") from None


def list_styles(path: str | Path) -> list[str]:
    return sorted(f.stem for f in (_model_dir(path) / "banks").glob("*.npz"))


def load_model(path: str | Path, styles: list[str] | None = None) -> tuple[dict, StyleBankConfig, dict]:
    """(params, cfg, manifest); `styles` limits which banks are loaded (default: all)."""
    path = _model_dir(path)
    manifest = read_manifest(path)
    cfg = config_from_dict(manifest["config"])
    ae, _ = store.load_tree(path / "autoencoder.npz")
    names = list_styles(path) if styles is None else styles
    banks = {}
    for n in names:
        f = path / "banks" / f"{check_style_name(n)}.npz"
        if not f.is_file():
            raise StyljaxError(f"{path}: no style {n!r}; styles: {', '.join(list_styles(path))}")
        banks[n], _ = store.load_tree(f)
    params = jax.tree.map(jnp.asarray, {**ae, "banks": banks})
    return params, cfg, manifest


def export_bank(path: str | Path, name: str, out: str | Path) -> Path:
    """Copy one style's bank out as its own small artefact (verifies it on the way)."""
    src = _model_dir(path) / "banks" / f"{check_style_name(name)}.npz"
    if not src.is_file():
        raise StyljaxError(f"{path}: no style {name!r}")
    tree, meta = store.load_tree(src)
    return store.save_tree(out, tree, {k: v for k, v in meta.items() if k != "sha256"})


def import_bank(path: str | Path, bank_file: str | Path, name: str | None = None, force: bool = False) -> str:
    """Add an exported bank to a model sharing its auto-encoder; returns the style name."""
    path = _model_dir(path)
    tree, meta = store.load_tree(bank_file)
    if meta.get("format") != BANK_FORMAT:
        raise StyljaxError(f"{bank_file}: not an exported StyleBank bank")
    manifest = read_manifest(path)
    if meta.get("autoencoder_sha256") != manifest["autoencoder_sha256"] and not force:
        raise StyljaxError(f"{bank_file}: trained with a different auto-encoder than {path} (use --force to import anyway)")
    if meta.get("config") != manifest["config"]:
        raise StyljaxError(f"{bank_file}: bank architecture differs from {path}")
    name = check_style_name(name or meta["style"])
    _save_bank(path / "banks" / f"{name}.npz", name, tree, manifest["autoencoder_sha256"], config_from_dict(manifest["config"]))
    return name


def rename_style(path: str | Path, old: str, new: str) -> None:
    path = _model_dir(path)
    src, dst = path / "banks" / f"{check_style_name(old)}.npz", path / "banks" / f"{check_style_name(new)}.npz"
    if not src.is_file():
        raise StyljaxError(f"{path}: no style {old!r}")
    if dst.exists():
        raise StyljaxError(f"{path}: style {new!r} exists already")
    tree, meta = store.load_tree(src)
    store.save_tree(dst, tree, {**{k: v for k, v in meta.items() if k != "sha256"}, "style": new})
    os.remove(src)


def remove_style(path: str | Path, name: str) -> None:
    f = _model_dir(path) / "banks" / f"{check_style_name(name)}.npz"
    if not f.is_file():
        raise StyljaxError(f"{path}: no style {name!r}")
    f.unlink()
