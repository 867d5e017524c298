"""Sums over the (2r+1)×(2r+1) windows lying fully inside an image, and their adjoints.

Windows follow Levin et al.: every window fully inside the image. A pixel near the border is
covered by fewer windows; `spread` and `window_count` take care of it. Used by the matting
Laplacian (`styljax.optimization.matting`) and the guided filter (`styljax.imaging.guided`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def box_sum(x: jax.Array, radius: int) -> jax.Array:
    """Σ over every (2r+1)² window fully inside x (H, W, ...): shape (H − 2r, W − 2r, ...).

    One cumulative sum and one difference per axis, S[i] = C[i + 2r + 1] − C[i]: O(1) per pixel
    whatever the radius.
    """
    k = 2 * radius + 1
    for axis in (0, 1):
        c = jnp.cumsum(x, axis=axis)
        c = jnp.concatenate([jnp.zeros_like(jax.lax.slice_in_dim(c, 0, 1, axis=axis)), c], axis=axis)
        n = c.shape[axis]
        x = jax.lax.slice_in_dim(c, k, n, axis=axis) - jax.lax.slice_in_dim(c, 0, n - k, axis=axis)
    return x


def box_mean(x: jax.Array, radius: int) -> jax.Array:
    """Window means μ_k = box_sum(x) / (2r+1)²: one value per fully-inside window."""
    return box_sum(x, radius) / (2 * radius + 1) ** 2


def spread(f: jax.Array, radius: int) -> jax.Array:
    """Σ_{k ∋ i} f_k for per-window values f (H − 2r, W − 2r, ...): back to (H, W, ...).

    The adjoint of `box_sum`: the box sum of f zero-padded by 2r.
    """
    pad = [(2 * radius, 2 * radius)] * 2 + [(0, 0)] * (f.ndim - 2)
    return box_sum(jnp.pad(f, pad), radius)


def window_count(hw: tuple[int, int], radius: int) -> jax.Array:
    """n_i, the number of windows containing each pixel: (H, W, 1)."""
    h, w = hw
    return spread(jnp.ones((h - 2 * radius, w - 2 * radius, 1), jnp.float32), radius)


def _offsets(radius: int) -> list[tuple[int, int]]:
    k = 2 * radius + 1
    return [(dy, dx) for dy in range(k) for dx in range(k)]


def window_patches(x: jax.Array, radius: int) -> jax.Array:
    """x_{k+o} for every window k and offset o: (|w|, H − 2r, W − 2r, ...) from x (H, W, ...)."""
    h, w = x.shape[0] - 2 * radius, x.shape[1] - 2 * radius
    return jnp.stack([x[dy : dy + h, dx : dx + w] for dy, dx in _offsets(radius)])


def scatter_patches(p: jax.Array, radius: int) -> jax.Array:
    """Σ_{k ∋ i} p_{k, i − k}: the adjoint of `window_patches`, (|w|, h, w, ...) → (H, W, ...)."""
    out = 0.0
    for o, (dy, dx) in enumerate(_offsets(radius)):
        pad = [(dy, 2 * radius - dy), (dx, 2 * radius - dx)] + [(0, 0)] * (p.ndim - 3)
        out = out + jnp.pad(p[o], pad)
    return out

