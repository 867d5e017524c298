"""The service's style thumbnails: small JPEGs of a built-in scene, kept in memory and on disk.

A thumbnail depends only on the model's body, the style's params and the scene, so it is cached
under a hash of those (`$STYLJAX_CACHE/thumbnails/`, `styljax.io.weights.cache_dir`): a restarted
server answers the page's thumbnail requests from disk at once instead of queueing them behind
the first compilations; a style changed under the same name gets a new hash. The service renders
the missing ones in the background when it starts (`styljax.infer.serve_app`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

SIDE = 96  # px: shown at 36 CSS px, sharp at 2x; the scene pads into the smallest bucket
SCENE_VERSION = 1  # bump when `scene` changes: the disk cache is keyed on it


def scene(side: int = SIDE) -> np.ndarray:
    """The built-in content every style thumbnail stylizes: sky, sun, hills, a house (float RGB)."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    img = np.stack([0.35 + 0.4 * y, 0.55 + 0.3 * y, 0.9 - 0.2 * y], -1)  # sky
    sun = (x - 0.75) ** 2 + (y - 0.22) ** 2 < 0.012
    img[sun] = (1.0, 0.85, 0.3)
    hill = y > 0.62 + 0.08 * np.sin(6.0 * x)
    img[hill] = np.stack([0.2 + 0.2 * x, 0.5 + 0.1 * np.cos(9 * x), 0.2 + 0 * x], -1)[hill]
    house = (np.abs(x - 0.3) < 0.1) & (y > 0.5) & (y < 0.75)
    img[house] = (0.75, 0.3, 0.25)
    roof = (y > 0.38) & (y <= 0.5) & (np.abs(x - 0.3) < (y - 0.38) * 1.2)
    img[roof] = (0.35, 0.2, 0.15)
    return img.astype(np.float32)


def key(model, style_params) -> str:
    """A hash of everything a thumbnail depends on: the model's method and body (its manifest's
    body sha256, else the body's params), the style's params, the scene and its size."""
    from styljax.io import store

    h = hashlib.sha256(f"{model.method}/{SIDE}/{SCENE_VERSION}/".encode())
    body_sha = model.manifest.get(model.store.sha_key) if hasattr(model, "store") else None
    if body_sha:
        h.update(str(body_sha).encode())
    else:
        h.update(store.tree_sha256(model.serving_args()[0]).encode())
    h.update(store.tree_sha256(style_params).encode())
    return h.hexdigest()[:32]


def cache_dir() -> Path | None:
    """Where thumbnails are kept across runs, or None when it cannot be made (a read-only home)."""
    from styljax.io.weights import cache_dir as styljax_cache

    path = styljax_cache() / "thumbnails"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path


def load(k: str) -> bytes | None:
    folder = cache_dir()
    try:
        return (folder / f"{k}.jpg").read_bytes() if folder is not None else None
    except OSError:
        return None


def save(k: str, data: bytes) -> None:
    """Keep a thumbnail on disk (atomically; a failure only costs a re-render next time)."""
    from styljax.io.atomic import atomic_write

    folder = cache_dir()
    if folder is None:
        return
    try:
        atomic_write(folder / f"{k}.jpg", data)
    except OSError:
        pass
