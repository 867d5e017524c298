"""Apply an image-to-image function to a large image in overlapping tiles, blended linearly.

For images whose activations do not fit in memory at once (a 4096 px photo through a StyleBank
model). Tiles are square (clipped to the image), evenly spaced with at least `overlap` pixels
between neighbours, and all of one shape, so a jitted `fn` compiles once. In each overlap the
two tiles cross-fade linearly (their weights sum to 1), so an `fn` that commutes with cropping
gives back exactly its whole-image result.

Caveat for instance-normalised networks (StyleBank, Johnson, CIN): normalisation statistics are
computed per tile, so a tiled result differs in tone and contrast from a whole-image render;
blending hides the seams, not that difference.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def tile_starts(n: int, tile: int, overlap: int) -> list[int]:
    """Evenly spaced starts of `tile`-long windows covering [0, n), neighbours overlapping by >= `overlap`."""
    if tile < 1 or overlap < 0:
        raise ValueError(f"need tile >= 1 and overlap >= 0, got {tile}, {overlap}")
    if n <= tile:
        return [0]
    if overlap >= tile:
        raise ValueError(f"overlap {overlap} must be smaller than the tile {tile}")
    count = -(-(n - overlap) // (tile - overlap))
    return [round(i * (n - tile) / (count - 1)) for i in range(count)]


def ramp(starts: list[int], tile: int, i: int) -> np.ndarray:
    """1-D blending weights of window i: a linear cross-fade over each overlap with a neighbour
    (the two weights sum to 1 there), 1 elsewhere."""
    w = np.ones(tile, np.float32)
    if i > 0:
        ov = starts[i - 1] + tile - starts[i]
        if ov > 0:
            w[:ov] = np.minimum(w[:ov], (np.arange(ov) + 0.5) / ov)
    if i < len(starts) - 1:
        ov = starts[i] + tile - starts[i + 1]
        if ov > 0:
            w[tile - ov :] = np.minimum(w[tile - ov :], (ov - np.arange(ov) - 0.5) / ov)
    return w


def map_tiles(
    fn: Callable[[np.ndarray], np.ndarray], image: np.ndarray, tile: int, overlap: int = 64
) -> tuple[np.ndarray, dict]:
    """Blend `fn` over tiles of an (H, W, C) image -> (float32 (H, W, C'), info).

    `fn` maps a (1, th, tw, C) batch to (1, th, tw, C'). Accumulators are numpy arrays of the
    output's size; only one tile's activations exist at a time.
    """
    h, w = image.shape[:2]
    th, tw = min(tile, h), min(tile, w)
    ys, xs = tile_starts(h, th, overlap), tile_starts(w, tw, overlap)
    acc = wsum = None
    for iy, y in enumerate(ys):
        wy = ramp(ys, th, iy)
        for ix, x in enumerate(xs):
            out = np.asarray(fn(image[None, y : y + th, x : x + tw]), np.float32)[0]
            if acc is None:
                acc = np.zeros((h, w, out.shape[-1]), np.float32)
                wsum = np.zeros((h, w, 1), np.float32)
            wt = (wy[:, None] * ramp(xs, tw, ix)[None, :])[..., None]
            acc[y : y + th, x : x + tw] += wt * out
            wsum[y : y + th, x : x + tw] += wt
    acc /= np.maximum(wsum, 1e-12)
    gaps = [a + th - b for a, b in zip(ys, ys[1:])] + [a + tw - b for a, b in zip(xs, xs[1:])]
    info = {"tiles": len(ys) * len(xs), "tile": [th, tw], "tile_starts_y": ys, "tile_starts_x": xs,
            "min_overlap": min(gaps) if gaps else 0}
    return acc, info
