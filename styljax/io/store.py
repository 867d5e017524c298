"""Small self-describing artefacts: a nested dict of arrays + JSON meta in one `.npz` file.

Used for shipped models and exported style banks (readable with plain numpy, no orbax needed,
diff-friendly in git). Keys are the '/'-joined paths of the tree; `__meta__` holds the JSON meta
plus `sha256`, a hash of the contents (sorted keys + little-endian C-order bytes) that `load_tree`
verifies. Writes are atomic (temp file + rename). Training checkpoints use orbax instead
(`styljax.io.checkpoint`).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from styljax.errors import StyljaxError, TooLarge
from styljax.io.atomic import atomic_path

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
    meta = parse_meta(flat.pop(META_KEY), path)
    tree = unflatten(flat)
    if verify and meta.get("sha256") != tree_sha256(tree):
        raise StyljaxError(f"{path}: checksum mismatch, the file is corrupt or was altered")
    return tree, meta


def parse_meta(raw: Any, what: Any) -> dict:
    """The JSON object stored under `__meta__`; a one-line StyljaxError if it is not one."""
    try:
        meta = json.loads(str(raw))
    except ValueError as e:
        raise StyljaxError(f"{what}: {META_KEY} is not JSON ({e})") from None
    if not isinstance(meta, dict):
        raise StyljaxError(f"{what}: {META_KEY} is a JSON {type(meta).__name__}, not an object")
    return meta


def load_tree_checked(data: bytes, expected: Mapping[str, tuple[tuple[int, ...], Any]], what: str = "file",
                      max_meta_bytes: int = 1 << 20) -> tuple[dict, dict]:
    """(tree, meta) from the bytes of an untrusted `save_tree` file, read with bounded work.

    `expected` maps every key to (shape, dtype): the file must hold exactly those arrays and the
    `__meta__` string. Every member's .npy header is read first (`numpy.lib.format`) and the file
    is refused before any array data is decompressed if a member declares another shape or dtype
    (`StyljaxError`) or more bytes than the whole expected tree (`TooLarge`, also for a `__meta__`
    over `max_meta_bytes`); then exactly the declared bytes of each member are read, the meta must
    be a JSON object and the sha256 must match. Values are not checked here (see the caller).
    """
    want = {f"{k}.npy": (tuple(shape), np.dtype(dtype)) for k, (shape, dtype) in expected.items()}
    budget = sum(int(np.prod(shape)) * dtype.itemsize for shape, dtype in want.values())
    if data.count(b"PK\x01\x02") > 4 * (len(want) + 1) + 16:  # central-directory entries, before parsing them
        raise StyljaxError(f"{what}: too many members for a style file")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
        raise StyljaxError(f"{what}: not a readable styljax artefact ({e})") from None
    with zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        meta_name = f"{META_KEY}.npy"
        if len(names) != len(set(names)) or set(names) != set(want) | {meta_name}:
            missing = sorted(n.removesuffix(".npy") for n in (set(want) | {meta_name}) - set(names))
            extra = sorted(n.removesuffix(".npy")[:64] for n in set(names) - set(want) - {meta_name})
            raise StyljaxError(f"{what}: not an exported style of this model (its arrays differ: missing "
                               f"{missing[:5]}, unexpected {extra[:5]}"
                               f"{', duplicates' if len(names) != len(set(names)) else ''})")
        headers = {}
        for info in infos:  # every header before any data
            shape, dtype = _member_header(zf, info, what)
            nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if info.filename == meta_name:
                if dtype.kind != "U" or shape != ():
                    raise StyljaxError(f"{what}: {META_KEY} is not a string")
                if nbytes > max_meta_bytes:
                    raise TooLarge(f"{what}: {META_KEY} declares {nbytes} bytes, over {max_meta_bytes}")
            else:
                key = info.filename[: -len(".npy")]
                if nbytes > budget:
                    raise TooLarge(f"{what}: {key!r} declares {nbytes} bytes, more than the model's whole "
                                   f"style ({budget} bytes)")
                if (shape, dtype) != want[info.filename]:
                    w_shape, w_dtype = want[info.filename]
                    raise StyljaxError(f"{what}: {key!r} is {dtype} {shape}, the model's styles have "
                                       f"{w_dtype} {w_shape}")
            headers[info.filename] = (shape, dtype, nbytes)
        flat = {}
        for info in infos:
            shape, dtype, nbytes = headers[info.filename]
            flat[info.filename[: -len(".npy")]] = _member_data(zf, info, shape, dtype, nbytes, what)
    meta = parse_meta(flat.pop(META_KEY), what)
    tree = unflatten(flat)
    if meta.get("sha256") != tree_sha256(tree):
        raise StyljaxError(f"{what}: checksum mismatch, the file is corrupt or was altered")
    return tree, meta


_ZIP_ERRORS = (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, NotImplementedError, zlib.error,
               KeyError, IndexError, TypeError, SyntaxError)


def _member_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, what: str) -> tuple[tuple, np.dtype]:
    """(shape, dtype) from a .npy member's header; nothing past the header is decompressed."""
    fmt = np.lib.format
    try:
        with zf.open(info) as fp:
            version = fmt.read_magic(fp)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(fp)
            else:
                raise ValueError(f"npy format version {version}")
    except _ZIP_ERRORS as e:
        raise StyljaxError(f"{what}: {info.filename[:64]!r} is not a readable array ({e})") from None
    if fortran and len(shape) > 1:
        raise StyljaxError(f"{what}: {info.filename[:64]!r} is Fortran-ordered")
    return tuple(int(n) for n in shape), np.dtype(dtype)


def _member_data(zf: zipfile.ZipFile, info: zipfile.ZipInfo, shape: tuple, dtype: np.dtype, nbytes: int,
                 what: str) -> np.ndarray:
    """Exactly the `nbytes` a member's header declared (and the check that nothing follows)."""
    fmt = np.lib.format
    try:
        with zf.open(info) as fp:
            version = fmt.read_magic(fp)
            (fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0)(fp)
            raw = fp.read(nbytes)
            trailing = fp.read(1)  # reaching the end checks the member's CRC
    except _ZIP_ERRORS as e:
        raise StyljaxError(f"{what}: {info.filename[:64]!r} is not a readable array ({e})") from None
    if len(raw) != nbytes or trailing:
        raise StyljaxError(f"{what}: {info.filename[:64]!r} does not hold the {nbytes} bytes its header declares")
    return np.frombuffer(raw, dtype).reshape(shape).copy()
