"""Training data: image sources -> grain pipelines -> numpy batches, addressable by step.

Every pipeline is a `grain.MapDataset`, so batch `i` is a pure function of (seed, i): `ds[step]`
gives the same crops on every run, which is what makes resume exact (the loop simply continues
at the restored step) and sharding trivial (each process reads its own indices).

Sources:
- `folder_source(dir)`: a local image folder (the default; no TensorFlow needed);
- `tfds_source(name, split)`: a TFDS dataset with random access (`tfds.data_sources`, the
  `[tfds]` extra), e.g. `coco/2017`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grain
import numpy as np

from styljax import image
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
        img = np.asarray(image.resize(img, (max(self.short_side, round(h * s)), max(self.short_side, round(w * s)))))
        if self._cache is not None:
            self._cache[i] = img
        return img


def folder_files(path: str | Path, exclude: Sequence[str] = ()) -> list[Path]:
    """Image files of a folder, minus those whose stem is in `exclude` (e.g. held-out images)."""
    files = [p for p in image.list_images(path) if p.stem not in set(exclude)]
    if not files:
        raise StyljaxError(f"{path}: no training images left after excluding {list(exclude)}")
    return files


def folder_source(paths: Sequence[Path], short_side: int, cache: bool = True) -> ImageSource:
    paths = list(paths)
    return ImageSource(lambda i: image.load_image(paths[i]), len(paths), short_side, cache)


def tfds_source(name: str, split: str, short_side: int, data_dir: str | None = None) -> ImageSource:
    """A TFDS dataset with an `image` feature, read through its random-access data source."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise StyljaxError("TFDS sources need the extra: pip install 'styljax[tfds]'") from None
    src = tfds.data_sources(name, split=split, data_dir=data_dir)
    load = lambda i: np.asarray(src[i]["image"], np.float32) / 255.0
    return ImageSource(load, len(src), short_side, cache=False)


def random_crop(img: np.ndarray, crop: int, rng: np.random.Generator, flip: bool = True) -> np.ndarray:
    """A random `crop`x`crop` window (and a random horizontal flip) of an image at least that big."""
    h, w = img.shape[:2]
    y, x = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
    out = img[y : y + crop, x : x + crop]
    if flip and rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out, np.float32)


def crop_batches(
    source: Any, crop: int, batch_size: int, seed: int, epochs: int = 100_000, flip: bool = True
) -> grain.MapDataset:
    """`ds[step]` -> {"image": (batch_size, crop, crop, 3) float32, "index": (batch_size,) int}.

    Indices are shuffled per epoch-block with `seed`; crops and flips draw from grain's per-element
    RNG, so the whole stream is deterministic and random-access.
    """
    if len(source) == 0:
        raise StyljaxError("empty training set")
    n = len(source)
    ds = grain.MapDataset.range(n * epochs).shuffle(seed=seed)
    ds = ds.map(lambda i: i % n)
    ds = ds.random_map(
        lambda i, rng: {"image": random_crop(source[i], crop, rng, flip), "index": np.int32(i)}, seed=seed
    )
    return ds.batch(batch_size, drop_remainder=True)


def prefetch(ds: grain.MapDataset, start: int, threads: int = 2, buffer: int = 4):
    """An iterator over `ds[start:]` decoded by background threads."""
    return iter(ds[start:].to_iter_dataset(grain.ReadOptions(num_threads=threads, prefetch_buffer_size=buffer)))
