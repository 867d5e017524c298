"""Resampling image arrays (jit-friendly)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from styljax.errors import StyljaxError


def resize(
    x: Any, size: Sequence[int], *, method: str = "linear", antialias: bool = True
) -> jax.Array:
    """Resize (H, W, C) or (B, H, W, C) to ``size=(h, w)`` with ``jax.image.resize``.

    jit-friendly (``size`` must be static). The default 'linear' (antialiased when
    shrinking) never overshoots; 'lanczos3' is sharper but may leave [0, 1] slightly.
    """
    x = jnp.asarray(x)
    if x.ndim not in (3, 4):
        raise StyljaxError(f"resize expects (H, W, C) or (B, H, W, C), got shape {x.shape}")
    h, w = (int(s) for s in size)
    if h < 1 or w < 1:
        raise StyljaxError(f"resize size must be positive, got {h}x{w}")
    shape = x.shape[:-3] + (h, w) + x.shape[-1:]
    if shape == x.shape:
        return x
    return jax.image.resize(x, shape, method=method, antialias=antialias)
