"""Padded shapes for batched rendering: every image is padded into one of a few (H, W) buckets and
every batch to a power of two, so a jitted renderer compiles once per bucket and batch size (the
HTTP service's dynamic batches, `styljax.runtime.ray`'s actors). Results are cropped back."""

from __future__ import annotations

import math

import numpy as np

DEFAULT_BUCKETS = tuple((s, s) for s in (128, 256, 384, 512, 768, 1024))


def bucket_hw(h: int, w: int, buckets) -> tuple[int, int]:
    """The smallest of `buckets` ((H, W) shapes) holding an h × w image: the padded shape its batch
    is compiled for. Every accepted image fits one (`ServeConfig` checks the largest holds max_side²)."""
    for bh, bw in sorted(buckets, key=lambda b: (b[0] * b[1], b)):
        if h <= bh and w <= bw:
            return bh, bw
    raise ValueError(f"no bucket holds {w}x{h}: {buckets}")


def batch_bucket(n: int, max_batch: int) -> int:
    """Batch sizes are padded to powers of two (≤ max_batch): log₂ compilations per shape."""
    return min(max_batch, 1 << max(0, math.ceil(math.log2(max(n, 1)))))


def pad_to(x: np.ndarray, hw: tuple[int, int], axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Reflect-pad the bottom/right of `x` along its (H, W) `axes` to `hw` ((0, 1) for an image
    (H, W, 3), (1, 2) for masks (R, H, W))."""
    pads = [(0, 0)] * x.ndim
    for ax, n in zip(axes, hw):
        pads[ax] = (0, n - x.shape[ax])
    return np.pad(x, pads, mode="reflect" if min(x.shape[a] for a in axes) > 1 else "edge")
