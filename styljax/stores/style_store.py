"""A multi-style model on disk: one shared-body file plus one small file per style.

    MODEL/manifest.json          format, architecture config, loss-network facts, provenance
    MODEL/<body>.npz             the params every style shares              (see `styljax.io.store`)
    MODEL/<styles>/<style>.npz   one style's params, with the body's fingerprint in its meta

StyleBank (body = the auto-encoder, styles = its banks) and the CIN / Johnson transform nets
(body = the convolutions, styles = the γ/β of every conditional instance norm) are both stored
this way: a `StyleStore` describes the layout, and every operation (save, load, list, add, rename,
remove, export, import a style) is one atomic file operation shared by both. A style only makes
sense with the body it was trained with: every style file records that body's sha256 and
`import_style` refuses a style from a different one unless forced.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from styljax.io import store
from styljax.errors import StyljaxError
from styljax.io.manifest import read_manifest
from styljax.io.atomic import _umask as image_umask
from styljax.io.atomic import atomic_write, fsync_path

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_style_name(name: str) -> str:
    """Style names become file names: letters, digits, '_', '-', '.', no path tricks."""
    if not _NAME.match(name) or name in (".", "..") or name.endswith(".npz"):
        raise StyljaxError(f"bad style name {name!r}: use letters, digits, '_', '-', '.' (max 64)")
    return name


def _same_style(file: Path, name: str, sha: str | None) -> bool:
    """Whether `file` is a whole style file named `name` holding the params of hash `sha`."""
    try:
        _, meta = store.load_tree(file)
    except StyljaxError:
        return False
    return meta.get("style") == name and meta.get("sha256") == sha


def config_to_dict(cfg: Any) -> dict:
    """A frozen architecture dataclass as JSON-able dict (tuples → lists, dtype → its name)."""
    d = dataclasses.asdict(cfg)
    for k, v in d.items():
        if isinstance(v, tuple):
            d[k] = list(v)
    if "dtype" in d:
        d["dtype"] = jnp.dtype(cfg.dtype).name
    return d


def config_from_dict(cls: type, d: dict) -> Any:
    """Inverse of `config_to_dict` for the dataclass `cls` (lists → tuples, dtype name → type)."""
    if not isinstance(d, dict):
        raise StyljaxError(f"config: a JSON object expected, got {type(d).__name__}")
    try:  # a damaged or foreign manifest: one line, not a traceback
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        if "dtype" in d:
            d["dtype"] = jnp.dtype(d["dtype"]).type
        return cls(**d)
    except (TypeError, ValueError, KeyError) as e:
        raise StyljaxError(f"config: not a {cls.__name__} ({e})") from None


# Config fields that change how a model renders, not its params: two configs that differ only in
# these hold interchangeable weights (an exported style imports, a model initialises another).
RENDERING_FIELDS = ("restore_tone",)


def same_architecture(a: dict, b: dict) -> bool:
    """Whether two configs (as `config_to_dict` dicts) describe the same params."""
    strip = lambda d: {k: v for k, v in d.items() if k not in RENDERING_FIELDS}  # noqa: E731
    return strip(a) == strip(b)


def _np(tree: Any) -> Any:
    return jax.tree.map(lambda x: np.asarray(x, np.float32), tree)


@dataclasses.dataclass(frozen=True)
class StyleStore:
    """The on-disk layout of one kind of multi-style model.

    Attributes:
      format: manifest format tag, e.g. "styljax-stylebank/1".
      style_format: format tag of one style's file (also of exported styles).
      body_file: file of the shared params, e.g. "autoencoder.npz".
      body_keys: the params' top-level keys stored in `body_file`.
      styles_key: the params' key holding {style: params}; also the folder of style files.
      sha_key: manifest/meta key of the body's sha256.
      config_cls: the architecture dataclass (stored as the manifest's "config").
      what: the model, for error messages ("a StyleBank model").
      body_name: the body, for error messages ("auto-encoder").
      reserved: styles the model keeps for itself (CIN/Johnson's `identity`, the strength-0
        target): stored and loaded like the others, never offered to a user (`public`).
    """

    format: str
    style_format: str
    body_file: str
    body_keys: tuple[str, ...]
    styles_key: str
    sha_key: str
    config_cls: type
    what: str
    body_name: str
    reserved: tuple[str, ...] = ()

    def public(self, names) -> list[str]:
        """`names` without the reserved styles, sorted: the styles a user sees and picks."""
        return sorted(n for n in names if n not in self.reserved)

    def check_not_reserved(self, name: str) -> str:
        """A style name a user may give (import, rename): not a reserved one."""
        if name in self.reserved:
            raise StyljaxError(f"style name {name!r} is reserved (it sets how strength works); give another name")
        return name

    # ---------------------------------------------------------------------------------- layout
    def _dir(self, path: str | Path, must_exist: bool = True) -> Path:
        path = Path(path)
        if must_exist:
            if not (path / "manifest.json").is_file():
                raise StyljaxError(f"{path}: not {self.what} (no manifest.json)")
            fmt = self.read_manifest(path).get("format")
            if fmt != self.format:
                raise StyljaxError(f"{path}: not {self.what} (format {fmt!r})")
        return path

    def _style_file(self, path: Path, name: str) -> Path:
        return path / self.styles_key / f"{check_style_name(name)}.npz"

    def config_from_dict(self, d: dict) -> Any:
        return config_from_dict(self.config_cls, d)

    # ------------------------------------------------------------------------------- save/load
    def save_model(self, path: str | Path, params: dict, cfg: Any, meta: dict | None = None) -> Path:
        """Write a whole model (body + every style). Style files not in params are removed.

        A new model directory appears whole or not at all: it is written into a hidden sibling and
        renamed into place. An existing one (add-style in place) is rewritten file by file, each
        atomically, the manifest last: a process killed on the way leaves a model that loads.
        """
        path = Path(path)
        if path.exists() or path.is_symlink():
            return self._write_model(path, params, cfg, meta)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
            os.chmod(tmp, 0o777 & ~image_umask())
        except OSError as e:
            raise StyljaxError(f"{path}: cannot write: {e.strerror or e}") from None
        try:
            self._write_model(tmp, params, cfg, meta)
            os.rename(tmp, path)
            fsync_path(path.parent)
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, OSError):
                raise StyljaxError(f"{path}: cannot write: {e.strerror or e}") from None
            raise
        return path

    def _write_model(self, path: Path, params: dict, cfg: Any, meta: dict | None) -> Path:
        (path / self.styles_key).mkdir(parents=True, exist_ok=True)
        body = _np({k: params[k] for k in self.body_keys})
        sha = store.tree_sha256(body)
        store.save_tree(path / self.body_file, body, {"format": self.format, "config": config_to_dict(cfg)})
        styles = params[self.styles_key]
        for name, tree in styles.items():
            self._save_style(path, name, tree, sha, cfg)
        for f in (path / self.styles_key).glob("*.npz"):
            if f.stem not in styles:
                f.unlink()
        manifest = {**(meta or {}), "format": self.format, "config": config_to_dict(cfg), self.sha_key: sha}
        atomic_write(path / "manifest.json", json.dumps(manifest, indent=2).encode())
        return path

    def save_style(self, path: str | Path, name: str, tree: dict) -> Path:
        """Write one style into the model at `path` (a new one, or replacing it), recording the
        model's body sha256 and config as every style file does; returns the file."""
        path = self._dir(path)
        manifest = self.read_manifest(path)
        self._save_style(path, name, tree, manifest[self.sha_key], self.config_from_dict(manifest["config"]))
        return self._style_file(path, name)

    def _save_style(self, path: Path, name: str, tree: dict, sha: str, cfg: Any) -> None:
        meta = {"format": self.style_format, "style": name, self.sha_key: sha, "config": config_to_dict(cfg)}
        store.save_tree(self._style_file(path, name), _np(tree), meta)

    def read_manifest(self, path: str | Path) -> dict:
        return read_manifest(path)

    def list_styles(self, path: str | Path) -> list[str]:
        # hidden files are writes in progress (or left by a killed process), never styles
        return sorted(f.stem for f in (self._dir(path) / self.styles_key).glob("*.npz") if not f.name.startswith("."))

    def load_model(self, path: str | Path, styles: list[str] | None = None) -> tuple[dict, Any, dict]:
        """(params, cfg, manifest); `styles` limits which styles are loaded (default: all)."""
        path = self._dir(path)
        manifest = self.read_manifest(path)
        try:
            cfg = self.config_from_dict(manifest.get("config"))
        except StyljaxError as e:
            raise StyljaxError(f"{path}/manifest.json: {e}") from None
        body, _ = store.load_tree(path / self.body_file)
        names = self.list_styles(path) if styles is None else styles
        loaded = {}
        for n in names:
            f = self._style_file(path, n)
            if not f.is_file():
                raise StyljaxError(f"{path}: no style {n!r}; styles: {', '.join(self.list_styles(path))}")
            loaded[n], _ = store.load_tree(f)
        params = jax.tree.map(jnp.asarray, {**body, self.styles_key: loaded})
        return params, cfg, manifest

    # ------------------------------------------------------------------------- style files
    def export_style(self, path: str | Path, name: str, out: str | Path) -> Path:
        """Copy one style out as its own small artefact (verifies it on the way)."""
        src = self._style_file(self._dir(path), name)
        if not src.is_file():
            raise StyljaxError(f"{path}: no style {name!r}")
        tree, meta = store.load_tree(src)
        return store.save_tree(out, tree, {k: v for k, v in meta.items() if k != "sha256"})

    def import_style(self, path: str | Path, style_file: str | Path, name: str | None = None, force: bool = False) -> str:
        """Add an exported style to a model sharing its body; returns the style name."""
        path = self._dir(path)
        tree, meta = store.load_tree(style_file)
        manifest = self.read_manifest(path)
        name = self.check_not_reserved(self.check_style(meta, manifest, str(style_file), str(path), name, force))
        self._save_style(path, name, tree, manifest[self.sha_key], self.config_from_dict(manifest["config"]))
        return name

    def check_style(self, meta: dict, manifest: dict, what: str, model: str, name: str | None = None,
                    force: bool = False) -> str:
        """The name an exported style (its file's `meta`) takes in the model of `manifest`; a
        one-line error if it is not a style of this kind, or was trained for another body."""
        if meta.get("format") != self.style_format:
            raise StyljaxError(f"{what}: not an exported style of {self.what}")
        if meta.get(self.sha_key) != manifest[self.sha_key] and not force:
            raise StyljaxError(f"{what}: trained with a different {self.body_name} than {model} "
                               "(use --force to import anyway)")
        if not same_architecture(meta.get("config") or {}, manifest["config"]):
            raise StyljaxError(f"{what}: architecture differs from {model}")
        return check_style_name(name or meta.get("style", ""))

    def rename_style(self, path: str | Path, old: str, new: str) -> None:
        path = self._dir(path)
        for name in (old, new):  # renaming the strength-0 target away, or a style into its place
            self.check_not_reserved(name)
        src, dst = self._style_file(path, old), self._style_file(path, new)
        if not src.is_file():
            raise StyljaxError(f"{path}: no style {old!r}")
        tree, meta = store.load_tree(src)
        if dst.exists():
            if _same_style(dst, new, meta.get("sha256")):  # a rename killed between its two steps: finish it
                os.remove(src)
                return
            raise StyljaxError(f"{path}: style {new!r} exists already")
        store.save_tree(dst, tree, {**{k: v for k, v in meta.items() if k != "sha256"}, "style": new})
        os.remove(src)

    def remove_style(self, path: str | Path, name: str) -> None:
        f = self._style_file(self._dir(path), name)
        if not f.is_file():
            raise StyljaxError(f"{path}: no style {name!r}")
        f.unlink()
