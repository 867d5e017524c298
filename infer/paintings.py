"""Paintings uploaded as styles (`POST /v1/stylize`'s `style_image`, for a model that takes them:
the arbitrary-style model): the predictor's input made in NumPy, and the predicted styles kept by
content.

Every upload runs the same compiled predictor: the painting is decoded with bounded memory, its
central square resized to the predictor's side here (as `styljax.nets.arbitrary.style_input` does
inside JAX for painting files, where each size compiles once per run), so no upload can make the
service compile. A style is kept in a bounded LRU keyed by the model and the file's SHA-256: the
same painting sent again (the page re-renders on every slider move) is not decoded or predicted again.
"""

from __future__ import annotations

import collections
import hashlib
import threading
from typing import Any

import numpy as np

DECODE_SIDES = 4  # a painting is decoded at most this many predictor sides long (the crop keeps ≥ 1 side up to 4:1)
CACHE_SIZE = 256  # paintings' styles kept (a style vector is 400 bytes)


def digest(file) -> str:
    """SHA-256 of a binary file's whole content (read in chunks from the start)."""
    h = hashlib.sha256()
    file.seek(0)
    for chunk in iter(lambda: file.read(1 << 20), b""):
        h.update(chunk)
    file.seek(0)
    return h.hexdigest()


def predictor_input(painting: np.ndarray, side: int) -> np.ndarray:
    """The central square of a decoded painting (H, W, 3), resized to side × side (LANCZOS, as
    `styljax.io.image` resizes)."""
    from styljax.io import image

    h, w = painting.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return image._resize_float(painting[top : top + s, left : left + s], (side, side))


class StyleCache:
    """An LRU of `size` style-param trees keyed by (model, content digest); thread-safe."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self.hits = self.misses = 0
        self._items: collections.OrderedDict[tuple, Any] = collections.OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple) -> Any | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple, value: Any) -> Any:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value
