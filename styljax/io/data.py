"""Training data: image sources -> grain pipelines -> numpy batches, addressable by step.

Every pipeline is a `grain.MapDataset`, so batch `i` is a pure function of (seed, i): `ds[step]`
gives the same crops on every run, which is what makes resume exact (the loop simply continues
at the restored step) and sharding trivial (each process reads its own indices).

Sources:
- `folder_source(dir)`: a local image folder (the default; no TensorFlow needed);
- `tfds_source(name, split)`: a prepared TFDS dataset with an `image` feature, read through its
  random-access data source (the `[tfds]` extra; TensorFlow itself is not needed to read),
  e.g. `coco/2017`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grain
import numpy as np

from styljax.io import image
from styljax.imaging import geometry
from styljax.errors import StyljaxError


class ImageSource:
    """Random-access source of float RGB images, each resized so its short side is `short_side`.

    Decoded images are kept in memory after first use (`cache=True`): fine for the few hundred
    photos of a demo run; turn it off for large folders.
    """

    def __init__(self, load: Callable[[int], np.ndarray], n: int, short_side: int, cache: bool = True):
        self._load, self._n, self.short_side, self._cache = load, n, short_side, {} if cache else None

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> np.ndarray:
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        img = self._load(i)
        h, w = img.shape[:2]
        s = self.short_side / min(h, w)
        img = np.asarray(geometry.resize(img, (max(self.short_side, round(h * s)), max(self.short_side, round(w * s)))))
        if self._cache is not None:
            self._cache[i] = img
        return img


def folder_files(path: str | Path, exclude: Sequence[str] = ()) -> list[Path]:
    """Image files of a folder, minus those whose stem is in `exclude` (e.g. held-out images)."""
    files = [p for p in image.list_images(path) if p.stem not in set(exclude)]
    if not files:
        raise StyljaxError(f"{path}: no training images left after excluding {', '.join(map(str, exclude))}")
    return files


def folder_source(paths: Sequence[Path], short_side: int, cache: bool = True) -> ImageSource:
    paths = list(paths)
    return ImageSource(lambda i: image.load_image(paths[i]), len(paths), short_side, cache)


def as_rgb01(img: Any) -> np.ndarray:
    """An image array from a dataset -> float32 RGB (H, W, 3) in [0, 1].

    (H, W) and (H, W, 1) greyscale are repeated to RGB; a trailing alpha channel ((H, W, 2) or
    (H, W, 4)) is composited over white, as `image.load_image` does. uint8 is scaled by 255,
    uint16 by 65535; float input is clipped to [0, 1].
    """
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 2, 3, 4) or min(a.shape[:2]) < 1:
        raise StyljaxError(f"expected an (H, W[, 1|2|3|4]) image, got shape {a.shape}")
    if a.dtype == np.uint8:
        x = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        x = a.astype(np.float32) / 65535.0
    elif a.dtype == np.bool_ or np.issubdtype(a.dtype, np.floating):
        x = np.clip(a.astype(np.float32), 0.0, 1.0)
    else:
        raise StyljaxError(f"unsupported image dtype {a.dtype} (expected uint8, uint16 or float)")
    if x.shape[-1] in (2, 4):
        alpha = x[..., -1:]
        x = x[..., :-1] * alpha + (1.0 - alpha)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return np.ascontiguousarray(x, np.float32)


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__


def _missing_module(e: BaseException) -> str:
    """The module an ImportError (possibly re-raised by TFDS with the original as its cause) names."""
    while e is not None:
        if isinstance(e, ImportError) and e.name:
            return e.name
        e = e.__cause__ or e.__context__
    return "a module that is not installed"


def _tfds_builder(tfds: Any, name: str, data_dir: str | None):
    """The dataset's builder: from its prepared files when they exist, else from TFDS's code."""
    where = data_dir or "the TFDS data dir ($TFDS_DATA_DIR or ~/tensorflow_datasets)"
    # Files first: reading a prepared dataset needs neither its builder code nor TensorFlow
    # (coco's code, for one, imports TensorFlow just to describe its features).
    try:
        return tfds.core.read_only_builder.builder_from_files(name, data_dir=data_dir)
    except Exception:  # not prepared there (or a name the file lookup cannot parse): try code
        pass
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.DatasetNotFoundError:
        raise StyljaxError(f"tfds {name}: no such dataset, and no prepared copy in {where}") from None
    except ImportError as e:
        raise StyljaxError(
            f"tfds {name}: not prepared in {where}, and its builder needs {_missing_module(e)}; "
            f"prepare it where that is installed (tfds build {name} --file_format=array_record) "
            f"and pass --tfds-data-dir"
        ) from None
    except Exception as e:
        raise StyljaxError(f"tfds {name}: {_first_line(e)}") from None


def tfds_source(name: str, split: str, short_side: int, data_dir: str | None = None) -> ImageSource:
    """A prepared TFDS dataset with an `image` feature, read through its random-access data source.

    `split` takes TFDS's split syntax (`train`, `train[:1000]`, ...). The dataset must already be
    prepared in `data_dir` (default: `$TFDS_DATA_DIR` or `~/tensorflow_datasets`) in a
    random-access format (`array_record`, or `parquet`); nothing is downloaded. Images become
    float32 RGB in [0, 1] (greyscale repeated, alpha over white); they are not cached.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise StyljaxError("TFDS sources need the extra: pip install 'styljax[tfds]'") from None
    builder = _tfds_builder(tfds, name, data_dir)
    features = list(getattr(builder.info.features, "keys", list)())
    if "image" not in features:
        raise StyljaxError(f"tfds {name}: no 'image' feature (features: {', '.join(features) or 'none'})")
    try:
        src = builder.as_data_source(split=split)
    except Exception as e:
        # Diagnose after the fact, so that `tfds.testing.mock_data` (which fakes only this call)
        # still works.
        if not builder.is_prepared():
            raise StyljaxError(
                f"tfds {name}: not prepared in {builder.data_dir}; prepare it first "
                f"(tfds build {name} --file_format=array_record) or pass --tfds-data-dir"
            ) from None
        fmt = builder.info.file_format
        if fmt is not None and fmt not in tfds.core.FileFormat.with_random_access():
            raise StyljaxError(
                f"tfds {name}: prepared as {fmt.value} files in {builder.data_dir}, which have no random "
                f"access; rebuild it with --file_format=array_record"
            ) from None
        raise StyljaxError(f"tfds {name} split {split!r}: {_first_line(e)}") from None
    return ImageSource(lambda i: as_rgb01(src[int(i)]["image"]), len(src), short_side, cache=False)


def _resize_square(img: np.ndarray, side: int) -> np.ndarray:
    """(h, w, C) float32 -> (side, side, C), bilinear (PIL's, antialiased when shrinking)."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(img[..., c]), mode="F")
                                .resize((side, side), Image.BILINEAR)) for c in range(img.shape[-1])], axis=-1)


def random_crop(
    img: np.ndarray, crop: int, rng: np.random.Generator, flip: bool = True, scales: tuple[float, float] = (1.0, 1.0)
) -> np.ndarray:
    """A random `crop`x`crop` window (and a random horizontal flip) of an image at least that big.

    `scales` (lo, hi): the window is drawn at a random zoom z in [lo, hi] (log-uniform), i.e. a
    crop/z window resized to `crop` (z < 1 shows more of the photo, smaller; capped by the image).
    """
    h, w = img.shape[:2]
    side = crop
    if scales != (1.0, 1.0):
        z = float(np.exp(rng.uniform(np.log(scales[0]), np.log(scales[1]))))
        side = max(1, min(h, w, int(round(crop / z))))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    out = np.asarray(img[y : y + side, x : x + side], np.float32)
    if side != crop:
        out = _resize_square(out, crop)
    if flip and rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out, np.float32)


def crop_batches(
    source: Any, crop: int, batch_size: int, seed: int, epochs: int = 100_000, flip: bool = True,
    scales: tuple[float, float] = (1.0, 1.0),
) -> grain.MapDataset:
    """`ds[step]` -> {"image": (batch_size, crop, crop, 3) float32, "index": (batch_size,) int}.

    Indices are shuffled per epoch-block with `seed`; crops and flips draw from grain's per-element
    RNG, so the whole stream is deterministic and random-access. `scales`: zoom range of the crops
    (`random_crop`).
    """
    if len(source) == 0:
        raise StyljaxError("empty training set")
    n = len(source)
    ds = grain.MapDataset.range(n * epochs).shuffle(seed=seed)
    ds = ds.map(lambda i: i % n)
    ds = ds.random_map(
        lambda i, rng: {"image": random_crop(source[i], crop, rng, flip, scales), "index": np.int32(i)}, seed=seed
    )
    return ds.batch(batch_size, drop_remainder=True)


def prefetch(ds: Any, start: int, stop: int, threads: int = 2, buffer: int = 4) -> Iterator:
    """An iterator over `ds[start]`, ..., `ds[stop - 1]`: read ahead by background threads when `ds`
    is a grain MapDataset (decoding and cropping overlap the device's work), else indexed in turn."""
    if isinstance(ds, grain.MapDataset):
        return iter(ds[start:stop].to_iter_dataset(grain.ReadOptions(num_threads=threads, prefetch_buffer_size=buffer)))
    return (ds[i] for i in range(start, stop))
