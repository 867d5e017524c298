"""Ray Data batch inference with the feed-forward renderers (the optional `ray` extra:
`pip install 'styljax[ray]'`). Nothing else in styljax imports this module, and this module imports
Ray only inside the functions that need it.

- `Stylizer`: a callable class for `ray.data.Dataset.map_batches`. Each actor opens the renderer once
  (`styljax.methods.get(method).open_renderer(model)`, the same `styljax.render.Renderer` the CLI and
  the service use: no second code path for the model) and stylizes a batch dict's `image` column
  with a `StyleSpec`, adding one `stylized_<tag>` column per output (`StyleSpec.tags`).
- `StylizeFiles`: the same actor for the batch job (`styljax stylize --engine ray`): rows name a
  source image and reach it through pyarrow's filesystems (local folders, s3://, gs://, ...); it
  decodes with the service's bounded decoder, renders, and writes each output atomically (a hidden
  temporary file, then a move), skipping outputs that exist, so a retried or rerun batch redoes
  nothing and leaves no partial file. A photo that cannot be read or rendered fails alone: its row
  carries the reason and the job goes on.

Compilation: images are reflect-padded into the service's size buckets
(`styljax.runtime.buckets.bucket_hw`, `pad_to`) and batches to a power of two (`batch_bucket`), so an
actor compiles each model program once per (bucket, batch size) whatever the photos' sizes; the
result is cropped back. An image larger than every bucket is padded to a multiple of 128 instead.
"""

from __future__ import annotations

import io
import os
import posixpath
import uuid
from typing import Any

import numpy as np

from styljax.errors import StyljaxError

OVERSIZE_STEP = 128  # an image over every bucket pads to a multiple of this (a bounded set of extra shapes)
ERROR = "error"  # the column carrying a row's failure ("" when it succeeded)


def output_column(tag: str) -> str:
    """The column `Stylizer` adds for a `StyleSpec` tag."""
    return f"stylized_{tag}"


def filesystem(uri: str):
    """(pyarrow filesystem, path within it) for a local path or any URI pyarrow reads."""
    from pyarrow import fs

    if "://" not in uri:
        return fs.LocalFileSystem(), os.path.abspath(uri)
    try:
        return fs.FileSystem.from_uri(uri)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several kinds; the user gets one line
        raise StyljaxError(f"{uri}: cannot open: {e}") from None


def join(root_uri: str, name: str) -> str:
    """`name` inside the folder `root_uri` (a local path or a URI)."""
    return posixpath.join(root_uri.rstrip("/"), name) if "://" in root_uri else os.path.join(root_uri, name)


def list_images(src: str) -> list[str]:
    """The image files directly in the folder `src` (a local path or URI), as URIs/paths of the same
    form, natural-sorted; hidden files (in-progress writes) skipped. One file gives [file]."""
    from pyarrow import fs as pafs

    from styljax.io.image import IMAGE_EXTENSIONS, _natural_key

    fs, path = filesystem(src)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [src]
    if info.type != pafs.FileType.Directory:
        raise StyljaxError(f"{src}: no such file or directory")
    names = [i.base_name for i in fs.get_file_info(pafs.FileSelector(path, recursive=False))
             if i.type == pafs.FileType.File and not i.base_name.startswith(".")
             and posixpath.splitext(i.base_name)[1].lower() in IMAGE_EXTENSIONS]
    if not names:
        raise StyljaxError(f"{src}: no image files ({' '.join(sorted(IMAGE_EXTENSIONS))}) in folder")
    from pathlib import PurePosixPath

    return [join(src, n) for n in sorted(names, key=lambda n: _natural_key(PurePosixPath(n)))]


def existing(dst: str) -> set[str]:
    """Names of the files already in the folder `dst` (empty when it does not exist yet)."""
    from pyarrow import fs as pafs

    fs, path = filesystem(dst)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return set()
    return {i.base_name for i in fs.get_file_info(pafs.FileSelector(path, recursive=False))
            if i.type == pafs.FileType.File}


def output_name(src: str, tag: str) -> str:
    """The output file name of `src` for a style tag: `<stem>_<tag>.png`, as `styljax stylize` names it."""
    stem = posixpath.splitext(posixpath.basename(src.rstrip("/")))[0]
    return f"{stem}_{tag}.png"


def write_atomic(uri: str, data: bytes) -> None:
    """Write `data` to `uri` so that it appears whole or not at all: a hidden temporary file next to
    it, then a move (a rename on a local or POSIX filesystem; object stores publish a finished
    upload, and pyarrow's move there is copy-then-delete of the hidden object)."""
    fs, path = filesystem(uri)
    parent, name = posixpath.split(path) if "://" in uri else os.path.split(path)
    fs.create_dir(parent, recursive=True)
    tmp = (posixpath.join if "://" in uri else os.path.join)(parent, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        with fs.open_output_stream(tmp) as f:
            f.write(data)
        fs.move(tmp, path)
    except BaseException:
        try:
            fs.delete_file(tmp)
        except Exception:  # noqa: BLE001 - already gone or never made
            pass
        raise


def encode_png(img: np.ndarray) -> bytes:
    """A float [0, 1] or uint8 (H, W, 3) image as PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(to_uint8(img)).save(buf, format="PNG")
    return buf.getvalue()


def to_uint8(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    return np.rint(np.clip(np.nan_to_num(img.astype(np.float32)), 0.0, 1.0) * 255.0).astype(np.uint8)


def to_float(img: Any) -> np.ndarray:
    """An (H, W, 3) uint8 (0-255) or float (0-1) image as float32 in [0, 1]; anything else raises."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] not in (3, 4) or min(a.shape[:2]) < 1:
        raise StyljaxError(f"an image is (H, W, 3), got shape {a.shape}")
    a = a[..., :3]
    return a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else np.clip(a.astype(np.float32), 0.0, 1.0)


def _reason(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return text if isinstance(e, StyljaxError) else f"{type(e).__name__}: {text}"


class Stylizer:
    """A `map_batches` callable: the renderer opened once per actor, batches of images stylized.

        ds = ray.data.read_images("s3://bucket/photos", mode="RGB")
        ds = ds.map_batches(Stylizer, fn_constructor_kwargs={"method": "cin", "style": "wave"},
                            batch_size=8, concurrency=4)
        # rows gain `stylized_wave` (uint8 (H, W, 3)) and `error` ("" or why that image failed)

    Args:
      method: a feed-forward method of the registry (`styljax.methods.named("renderer")`).
      style: a style spec as for `styljax stylize --style`: `NAME`, `all`, `a:0.7,b:0.3`, or with
        `regions`/`mask` one style per region (`a,b`); for `arbitrary`, painting files as well
        (read by each actor: a path every node can read).
      model: the model directory (default: the method's shipped model).
      strength, preserve_colors, regions, mask: as `styljax.render.StyleSpec`.
      max_batch: images per compiled call (batches pad to a power of two up to it).
      buckets: the padded (H, W) shapes (default: the service's, `styljax.runtime.buckets.DEFAULT_BUCKETS`).
      column: the input column of images ((H, W, 3) uint8 0-255 or float 0-1).
    """

    def __init__(self, method: str, style: str, model: str | None = None, *, strength: float | None = None,
                 preserve_colors: bool = False, regions: int | None = None, mask: str | None = None,
                 max_batch: int = 8, buckets=None, column: str = "image"):
        from styljax import methods
        from styljax.runtime.buckets import DEFAULT_BUCKETS
        from styljax.render import StyleSpec

        m = methods.get(method, "renderer")
        self.renderer = m.open_renderer(model)
        style = self.renderer.prepare_styles(style, what="style")  # arbitrary: painting files become styles
        self.spec = StyleSpec.parse(style, self.renderer.styles, strength=strength,
                                    preserve_colors=preserve_colors, regions=regions, mask=mask)
        # one style or a mix: its params made once per actor, for every batch (as the CLI)
        self.style_params = self.renderer.style_params(self.spec) if self.spec.mode in ("single", "fusion") else None
        self.max_batch = max(1, int(max_batch))
        self.buckets = tuple(buckets or DEFAULT_BUCKETS)
        self.column = column
        self.shapes: set[tuple[int, ...]] = set()  # the padded batch shapes rendered (one compilation each)

    @property
    def tags(self) -> tuple[str, ...]:
        return self.spec.tags

    def bucket(self, h: int, w: int) -> tuple[int, int]:
        from styljax.runtime.buckets import bucket_hw

        try:
            return bucket_hw(h, w, self.buckets)
        except ValueError:  # over every bucket: a multiple of OVERSIZE_STEP
            return (-(-h // OVERSIZE_STEP) * OVERSIZE_STEP, -(-w // OVERSIZE_STEP) * OVERSIZE_STEP)

    def _render_group(self, imgs: list[np.ndarray], hw: tuple[int, int]) -> list[dict[str, np.ndarray]]:
        """Same-bucket images through one padded call of the renderer."""
        import jax.numpy as jnp

        from styljax.runtime.buckets import batch_bucket, pad_to

        n = batch_bucket(len(imgs), self.max_batch)
        padded = [pad_to(x, hw) for x in imgs]
        x = np.stack(padded + [padded[-1]] * (n - len(imgs)))
        self.shapes.add(x.shape)
        out = {t: np.asarray(o) for t, o in self.renderer.render(jnp.asarray(x), self.spec, self.style_params).items()}
        for t, o in out.items():
            if not np.isfinite(o[: len(imgs)]).all():
                raise StyljaxError(f"the {t} result is not finite")
        return [{t: o[i, : im.shape[0], : im.shape[1]] for t, o in out.items()} for i, im in enumerate(imgs)]

    def render(self, images: list[np.ndarray | None]) -> tuple[list[dict[str, np.ndarray] | None], list[str]]:
        """Float (H, W, 3) images (None: skipped) → ([{tag: float result} or None], [error or ""]).
        Grouped by bucket in chunks of `max_batch`; a failing chunk is retried one image at a time,
        so one bad image fails alone."""
        results: list = [None] * len(images)
        errors = [""] * len(images)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            if im is not None:
                groups.setdefault(self.bucket(*im.shape[:2]), []).append(i)
        for hw, idx in groups.items():
            for k in range(0, len(idx), self.max_batch):
                chunk = idx[k : k + self.max_batch]
                try:
                    for i, r in zip(chunk, self._render_group([images[i] for i in chunk], hw)):
                        results[i] = r
                except Exception:  # noqa: BLE001 - find the culprit: each image alone
                    for i in chunk:
                        try:
                            results[i] = self._render_group([images[i]], hw)[0]
                        except Exception as e:  # noqa: BLE001 - this image fails, the batch goes on
                            errors[i] = _reason(e)
        return results, errors

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        images, errors = [], []
        prior = batch.get(ERROR)
        for k, im in enumerate(batch[self.column]):
            try:
                if prior is not None and prior[k]:
                    raise StyljaxError(str(prior[k]))
                images.append(to_float(im))
                errors.append("")
            except Exception as e:  # noqa: BLE001
                images.append(None)
                errors.append(_reason(e))
        results, render_errors = self.render(images)
        out = dict(batch)
        for t in self.tags:
            col = [to_uint8(r[t]) if r is not None else np.zeros((1, 1, 3), np.uint8) for r in results]
            out[output_column(t)] = _column(col)
        out[ERROR] = np.asarray([e or r for e, r in zip(errors, render_errors)], dtype=object)
        return out


def _column(arrays: list[np.ndarray]):
    """A batch column of images: one stacked array when they share a shape, else an object array."""
    if len({a.shape for a in arrays}) == 1:
        return np.stack(arrays)
    col = np.empty(len(arrays), dtype=object)
    col[:] = arrays
    return col


class StylizeFiles(Stylizer):
    """The batch job's `map_batches` callable: rows {"src": path or URI} → {"src", "written" (outputs
    written), "error" ("" or the reason), "worker" (node id:pid)}. Outputs go to `dst` as
    `<stem>_<tag>.png`, written atomically; one that exists is not redone (`overwrite` False).

    Args:
      dst: the output folder (a local path or URI).
      max_side: scale each photo so its longer side is this (None: as it is).
      max_pixels: refuse photos with more pixels (checked on the header, before decoding).
      overwrite: redo outputs that exist.
      The rest: as `Stylizer`.
    """

    def __init__(self, method: str, style: str, dst: str, model: str | None = None, *, max_side: int | None = None,
                 max_pixels: int | None = None, overwrite: bool = False, **kw):
        super().__init__(method, style, model, **kw)
        self.dst = dst
        self.max_side = max_side
        self.max_pixels = max_pixels
        self.overwrite = overwrite
        self.worker = f"{_node_id()}:{os.getpid()}"

    def targets(self, src: str) -> dict[str, str]:
        return {t: join(self.dst, output_name(src, t)) for t in self.tags}

    def _done(self, targets: dict[str, str]) -> bool:
        from pyarrow import fs as pafs

        if self.overwrite:
            return False
        fs, _ = filesystem(self.dst)
        infos = fs.get_file_info([filesystem(u)[1] for u in targets.values()])
        return all(i.type == pafs.FileType.File for i in infos)

    def _read(self, src: str) -> np.ndarray:
        from styljax.io.image import MIN_SIDE, decode_bounded

        fs, path = filesystem(src)
        try:
            with fs.open_input_file(path) as f:
                data = f.read()
        except OSError as e:
            raise StyljaxError(f"cannot read: {e}") from None
        img = decode_bounded(data, what=posixpath.basename(src), max_pixels=self.max_pixels, max_side=self.max_side)
        if min(img.shape[:2]) < MIN_SIDE:
            raise StyljaxError(f"{img.shape[1]}x{img.shape[0]} has a side under {MIN_SIDE} px")
        return img

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        srcs = [str(s) for s in batch["src"]]
        images: list = []
        errors = [""] * len(srcs)
        written = [0] * len(srcs)
        targets = [self.targets(s) for s in srcs]
        for k, src in enumerate(srcs):
            try:
                images.append(None if self._done(targets[k]) else self._read(src))
            except Exception as e:  # noqa: BLE001 - a bad photo is reported, never fails the job
                images.append(None)
                errors[k] = _reason(e)
        results, render_errors = self.render(images)
        for k, r in enumerate(results):
            errors[k] = errors[k] or render_errors[k]
            if r is None:
                continue
            try:
                for t, uri in targets[k].items():
                    write_atomic(uri, encode_png(r[t]))
                    written[k] += 1
            except Exception as e:  # noqa: BLE001
                errors[k] = f"cannot write: {_reason(e)}"
        return {"src": np.asarray(srcs, dtype=object), "written": np.asarray(written, np.int64),
                ERROR: np.asarray(errors, dtype=object), "worker": np.asarray([self.worker] * len(srcs), dtype=object)}


def _node_id() -> str:
    import sys

    ray = sys.modules.get("ray")  # inside a Ray worker Ray is imported; elsewhere it is not imported for this
    try:
        return ray.get_runtime_context().get_node_id()[:8] if ray is not None and ray.is_initialized() else "local"
    except Exception:  # noqa: BLE001
        return "local"
