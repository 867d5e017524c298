"""A trained Net₁ on disk: one `.npz` (flow + mask params, `styljax.io.store`) plus a readable manifest.

    NET1/net1.npz        {"flow": …, "mask": …} with the config and provenance in its meta
    NET1/manifest.json   the same meta, for people (format, config, style, auto-encoder sha256, provenance)

Net₁ is trained against one StyleBank auto-encoder: the manifest records that auto-encoder's
sha256 (`stylebank_store`), and `check_autoencoder` refuses a mismatch with a one-line error.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from styljax.io import store
from styljax.errors import StyljaxError
from styljax.io.atomic import atomic_write
from styljax.stores.style_store import config_from_dict, config_to_dict
from styljax.nets.coherent import VideoNetConfig

FORMAT = "styljax-video-net1/1"


def save_net1(path: str | Path, params: dict, cfg: VideoNetConfig, autoencoder_sha256: str, meta: dict | None = None) -> Path:
    """Write NET1/net1.npz and NET1/manifest.json (both atomically)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    full = {**(meta or {}), "format": FORMAT, "config": config_to_dict(cfg), "autoencoder_sha256": autoencoder_sha256}
    tree = jax.tree.map(lambda x: np.asarray(x, np.float32), params)
    store.save_tree(path / "net1.npz", tree, full)
    atomic_write(path / "manifest.json", json.dumps({**full, "sha256": store.tree_sha256(tree)}, indent=2).encode())
    return path


def load_net1(path: str | Path) -> tuple[dict, VideoNetConfig, dict]:
    """(params, cfg, meta) of a saved Net₁ (a directory, or its net1.npz)."""
    path = Path(path)
    file = path / "net1.npz" if path.is_dir() else path
    if not file.is_file():
        raise StyljaxError(f"{path}: not a Net1 directory (no net1.npz); train one with `styljax train video`")
    tree, meta = store.load_tree(file)
    if meta.get("format") != FORMAT:
        raise StyljaxError(f"{file}: not a Net1 artefact (format {meta.get('format')!r})")
    return jax.tree.map(jnp.asarray, tree), config_from_dict(VideoNetConfig, meta["config"]), meta


def check_autoencoder(meta: dict, model_manifest: dict, net1_path: str | Path, model_path: str | Path) -> None:
    """One-line error if Net₁ was trained on a different StyleBank auto-encoder than the model's."""
    if meta.get("autoencoder_sha256") != model_manifest.get("autoencoder_sha256"):
        raise StyljaxError(
            f"{net1_path}: Net1 was trained with a different StyleBank auto-encoder than {model_path} "
            f"(sha256 {str(meta.get('autoencoder_sha256'))[:12]} vs {str(model_manifest.get('autoencoder_sha256'))[:12]}); "
            f"train one for this model with `styljax train video --model {model_path}`"
        )
