"""Contact sheets: labelled grids of images for galleries and comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from styljax.errors import StyljaxError


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=-1).astype(np.float32, copy=False)


def _as_rgb(image: Any) -> np.ndarray:
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        return _grey_to_rgb(array)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise StyljaxError(f"contact_sheet: images must be (H, W) or (H, W, 3), got {array.shape}")
    return array


def _label_strip(text: str, width: int, height: int, bg: float) -> np.ndarray:
    """A (height, width, 3) float strip with ``text`` centred, in PIL's default font."""
    strip = Image.new("L", (width, height), int(round(np.clip(bg, 0.0, 1.0) * 255)))
    draw = ImageDraw.Draw(strip)
    font = ImageFont.load_default()
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = max(0, (width - (right - left)) // 2 - left)
    y = max(0, (height - (bottom - top)) // 2 - top)
    draw.text((x, y), text, fill=0 if bg >= 0.5 else 255, font=font)
    return _grey_to_rgb(np.asarray(strip, dtype=np.float32) / 255.0)


def contact_sheet(
    images: Sequence[Any],
    ncols: int,
    labels: Sequence[str] | None = None,
    pad: int = 4,
    bg: float = 1.0,
) -> np.ndarray:
    """Tile float images into one float32 RGB image, ``ncols`` per row (fewer if fewer images).

    Each image is centred (letterboxed) in a cell of the largest height and width; ``pad``
    pixels of ``bg`` separate and surround the cells. ``labels`` are drawn under the tiles.
    """
    if not images:
        raise StyljaxError("contact_sheet: no images")
    if ncols < 1:
        raise StyljaxError(f"contact_sheet: ncols must be >= 1, got {ncols}")
    if labels is not None and len(labels) != len(images):
        raise StyljaxError(f"contact_sheet: {len(labels)} labels for {len(images)} images")
    tiles = [_as_rgb(im) for im in images]
    cell_h = max(t.shape[0] for t in tiles)
    cell_w = max(t.shape[1] for t in tiles)
    label_h = _label_height(labels, pad) if labels is not None else 0
    cols = min(ncols, len(tiles))
    rows = -(-len(tiles) // cols)
    step_y, step_x = cell_h + label_h + pad, cell_w + pad
    sheet = np.full((pad + rows * step_y, pad + cols * step_x, 3), bg, dtype=np.float32)
    for i, tile in enumerate(tiles):
        top, left = pad + (i // cols) * step_y, pad + (i % cols) * step_x
        y0, x0 = top + (cell_h - tile.shape[0]) // 2, left + (cell_w - tile.shape[1]) // 2
        sheet[y0 : y0 + tile.shape[0], x0 : x0 + tile.shape[1]] = tile
        if labels is not None:
            strip = _label_strip(str(labels[i]), cell_w, label_h, bg)
            sheet[top + cell_h : top + cell_h + label_h, left : left + cell_w] = strip
    return sheet


def _label_height(labels: Sequence[str], pad: int) -> int:
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    font = ImageFont.load_default()
    heights = [draw.textbbox((0, 0), str(t) or "Ag", font=font)[3] for t in [*labels, "Ag"]]
    return max(heights) + max(pad, 2)
