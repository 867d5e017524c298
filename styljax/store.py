"""Small self-describing artefacts: a nested dict of arrays + JSON meta in one `.npz` file.

Used for shipped models and exported style banks (readable with plain numpy, no orbax needed,
diff-friendly in git). Keys are the '/'-joined paths of the tree; `__meta__` holds the JSON meta
plus `sha256`, a hash of the contents (sorted keys + little-endian C-order bytes) that `load_tree`
verifies. Writes are atomic (temp file + rename). Training checkpoints use orbax instead
(`styljax.checkpoint`).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from styljax.errors import StyljaxError
from styljax.image import atomic_path

META_KEY = "__meta__"


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for k, v in tree.items():
        if "/" in k:
            raise ValueError(f"key {k!r} must not contain '/'")
        path = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, path + "/"))
        else:
            out[path] = np.asarray(v)
    return out


def unflatten(flat: Mapping[str, np.ndarray]) -> dict:
    tree: dict = {}
    for path, v in flat.items():
        node = tree
        *parents, leaf = path.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = v
    return tree


def tree_sha256(tree: Mapping[str, Any]) -> str:
    """Content hash of a nested dict of arrays (independent of file bytes, zip timestamps, order)."""
    h = hashlib.sha256()
    for k, a in sorted(flatten(tree).items()):
        a = np.asarray(a)
        h.update(k.encode())
        h.update(str(a.dtype.str).encode())
        h.update(np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<"))).tobytes())
    return h.hexdigest()


def save_tree(path: str | Path, tree: Mapping[str, Any], meta: Mapping[str, Any]) -> Path:
    """Write `tree` and `meta` (+ its sha256) to `path` atomically; returns the path."""
    path = Path(path)
    flat = {k: np.asarray(v) for k, v in flatten(tree).items()}
    full_meta = {**meta, "sha256": tree_sha256(tree)}
    with atomic_path(path) as tmp:
        np.savez(tmp, **flat, **{META_KEY: np.array(json.dumps(full_meta))})
    return path


def load_tree(path: str | Path, verify: bool = True) -> tuple[dict, dict]:
    """(tree, meta) from a `save_tree` file; a one-line StyljaxError if missing, corrupt or altered."""
    path = Path(path)
    if not path.is_file():
        raise StyljaxError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            flat = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise StyljaxError(f"{path}: not a readable styljax artefact ({e})") from None
    if META_KEY not in flat:
        raise StyljaxError(f"{path}: not a styljax artefact (no {META_KEY})")
    meta = json.loads(str(flat.pop(META_KEY)))
    tree = unflatten(flat)
    if verify and meta.get("sha256") != tree_sha256(tree):
        raise StyljaxError(f"{path}: checksum mismatch, the file is corrupt or was altered")
    return tree, meta
