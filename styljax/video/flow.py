"""Optical-flow utilities: backward warping, flow resizing, consistency masks, warp error.

Convention (used everywhere in styljax): a flow field is (..., H, W, 2) float32 in pixels of the
map it belongs to, channel 0 = u = Δx (columns), channel 1 = v = Δy (rows). The flows are
*backward*: for frame t, ``flow_t[y, x] = (u, v)`` says that the point seen at (x, y) in frame t
was at (x + u, y + v) in frame t−1, so

    warp(prev, flow_t)[y, x] = prev(y + v, x + u)        (bilinear, `map_coordinates(order=1)`)

brings frame t−1 (or anything aligned with it: its features, its stylized output) into frame t's
geometry. A *traceable* mask (..., H, W) in {0, 1} marks the pixels of frame t whose point was
visible in frame t−1 (not occluded, not outside the frame); only there is the warp meaningful.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.ndimage import map_coordinates


def _grid(h: int, w: int) -> tuple[jax.Array, jax.Array]:
    gy, gx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
    return gy, gx


def _warp_one(img: jax.Array, flow: jax.Array) -> jax.Array:
    """img (H, W, C), flow (H, W, 2) -> (H, W, C); samples outside clamp to the border."""
    gy, gx = _grid(*img.shape[:2])
    coords = [gy + flow[..., 1], gx + flow[..., 0]]
    sample = lambda ch: map_coordinates(ch, coords, order=1, mode="nearest")
    return jax.vmap(sample, in_axes=-1, out_axes=-1)(img)


@jax.jit
def warp(images: jax.Array, flow: jax.Array) -> jax.Array:
    """Backward warp: (B, H, W, C) maps by (B, H, W, 2) flows -> (B, H, W, C), same dtype.

    Differentiable in both the maps and the flow (bilinear weights depend on the coordinates).
    """
    out = jax.vmap(_warp_one)(images.astype(jnp.float32), flow.astype(jnp.float32))
    return out.astype(images.dtype)


def resize_flow(flow: jax.Array, hw: tuple[int, int]) -> jax.Array:
    """Resample a (B, H, W, 2) flow to (B, h, w, 2): area/linear resize of the field
    (`jax.image.resize(antialias=True)`) and vectors rescaled by (w/W, h/H)."""
    b, h0, w0, _ = flow.shape
    h, w = (int(n) for n in hw)
    out = jax.image.resize(flow.astype(jnp.float32), (b, h, w, 2), "linear", antialias=True)
    return out * jnp.asarray([w / w0, h / h0], jnp.float32)


def in_bounds(flow: jax.Array) -> jax.Array:
    """(B, H, W) 1.0 where x + flow lands inside the frame (so the warp does not clamp)."""
    h, w = flow.shape[1:3]
    gy, gx = _grid(h, w)
    y, x = gy + flow[..., 1], gx + flow[..., 0]
    return ((y >= 0) & (y <= h - 1) & (x >= 0) & (x <= w - 1)).astype(jnp.float32)


@jax.jit
def consistency_mask(backward: jax.Array, forward: jax.Array, alpha: float = 0.01, beta: float = 0.5) -> jax.Array:
    """Traceable mask from a forward-backward check (Sundaram et al. 2010; Ruder et al. 2016).

    `backward` is frame t's flow to t−1, `forward` is frame t−1's flow to t, both (B, H, W, 2).
    A pixel is traceable when it lands inside frame t−1 and going back then forth returns to it:
    |b + f̃|² ≤ α(|b|² + |f̃|²) + β with f̃ = warp(forward, backward). Returns (B, H, W) in {0, 1}.
    """
    f = warp(forward, backward)
    err = jnp.sum(jnp.square(backward + f), axis=-1)
    bound = alpha * (jnp.sum(jnp.square(backward), -1) + jnp.sum(jnp.square(f), -1)) + beta
    return ((err <= bound).astype(jnp.float32)) * in_bounds(backward)


@jax.jit
def warp_error(current: jax.Array, previous: jax.Array, flow: jax.Array, traceable: jax.Array) -> jax.Array:
    """Temporal stability error per image (Ruder-style): mean over traceable pixels and channels of
    (O_t − warp(O_{t−1}, flow_t))², for (B, H, W, C) outputs, (B, H, W, 2) flows, (B, H, W) masks.
    Returns (B,); an image with no traceable pixel gives 0."""
    d = jnp.square(current.astype(jnp.float32) - warp(previous, flow).astype(jnp.float32)).mean(axis=-1)
    m = traceable.astype(jnp.float32)
    return jnp.sum(d * m, axis=(1, 2)) / jnp.maximum(jnp.sum(m, axis=(1, 2)), 1.0)


__all__ = ["consistency_mask", "in_bounds", "resize_flow", "warp", "warp_error"]
