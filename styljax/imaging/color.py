"""Colour: BT.601 YUV and keeping the photo's colours under a stylization's luminance."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from styljax.imaging.geometry import resize


def _bt601_matrix() -> np.ndarray:
    """The BT.601 RGB -> YUV matrix.

    Y = .299 R + .587 G + .114 B, U = .436 (B - Y) / (1 - .114), V = .615 (R - Y) / (1 - .299);
    built from the definition (not the rounded table) so greys get exactly zero chroma.
    """
    wr, wg, wb = 0.299, 0.587, 0.114
    y = np.array([wr, wg, wb])
    u = 0.436 / (1 - wb) * (np.array([0.0, 0.0, 1.0]) - y)
    v = 0.615 / (1 - wr) * (np.array([1.0, 0.0, 0.0]) - y)
    return np.stack([y, u, v])


_RGB_TO_YUV = _bt601_matrix()
_YUV_TO_RGB = np.linalg.inv(_RGB_TO_YUV)


def _as_float_array(x: Any) -> Any:
    """Pass jax arrays (and tracers) through; turn anything else into a float numpy array."""
    if isinstance(x, jax.Array):
        return x
    array = np.asarray(x)
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float32)


def _apply_matrix(x: Any, matrix: np.ndarray) -> Any:
    x = _as_float_array(x)
    return x @ matrix.T.astype(x.dtype)


def rgb_to_yuv(x: Any) -> Any:
    """RGB -> YUV (BT.601) over the last axis; numpy in, numpy out; jax in, jax out (jit-able)."""
    return _apply_matrix(x, _RGB_TO_YUV)


def yuv_to_rgb(x: Any) -> Any:
    """YUV (BT.601) -> RGB over the last axis; the exact inverse of :func:`rgb_to_yuv`."""
    return _apply_matrix(x, _YUV_TO_RGB)


def preserve_colors(content: Any, stylized: Any, *, clip: bool = True) -> jax.Array:
    """Luminance of ``stylized`` with the chrominance of ``content`` (Gatys et al. 2016).

    This is neural-style's ``-original_colors``. Inputs are (..., H, W, 3) numpy or jax
    arrays; if their spatial sizes differ, ``content`` is resized to ``stylized``'s.
    Returns a jax array, clipped to [0, 1] unless ``clip=False``. jit-able.
    """
    content = jnp.asarray(content, dtype=jnp.float32)
    stylized = jnp.asarray(stylized, dtype=jnp.float32)
    if content.shape[-3:-1] != stylized.shape[-3:-1]:
        content = resize(content, stylized.shape[-3:-1])
    y = rgb_to_yuv(stylized)[..., :1]
    uv = rgb_to_yuv(content)[..., 1:]
    lead = jnp.broadcast_shapes(y.shape[:-1], uv.shape[:-1])
    yuv = jnp.concatenate([jnp.broadcast_to(y, lead + (1,)), jnp.broadcast_to(uv, lead + (2,))], -1)
    out = yuv_to_rgb(yuv)
    return jnp.clip(out, 0.0, 1.0) if clip else out


def preserve_colors_where(content: Any, stylized: Any, keep: Any) -> jax.Array:
    """:func:`preserve_colors` for the images of a batch (B, H, W, 3) whose flag ``keep`` (B,) is
    true, ``stylized`` as is for the others (a served batch: each request its own choice)."""
    stylized = jnp.asarray(stylized, dtype=jnp.float32)
    keep = jnp.asarray(keep, dtype=bool).reshape((-1,) + (1,) * (stylized.ndim - 1))
    return jnp.where(keep, preserve_colors(content, stylized), stylized)


