"""Region masks for Deep Photo Style Transfer: colour-coded mask files and automatic tonal zones."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from styljax.io import image as image_lib
from styljax.imaging import color
from styljax.losses import feature_losses
from styljax.errors import StyljaxError
from styljax.nets.stylebank import kmeans_masks

MASK_COLORS: dict[str, tuple[float, float, float]] = {
    "blue": (0.0, 0.0, 1.0),
    "green": (0.0, 1.0, 0.0),
    "black": (0.0, 0.0, 0.0),
    "white": (1.0, 1.0, 1.0),
    "red": (1.0, 0.0, 0.0),
    "yellow": (1.0, 1.0, 0.0),
    "grey": (0.5, 0.5, 0.5),
    "lightblue": (0.0, 1.0, 1.0),
    "purple": (1.0, 0.0, 1.0),
}
"""The reference's mask colours, in its order (`neuralstyle_seg.lua`)."""

MASK_THRESHOLD = 0.1
MAX_UNASSIGNED = 0.1  # fraction of mask pixels allowed to match no colour (antialiased edges)


def color_masks(rgb: jax.Array | np.ndarray, threshold: float = MASK_THRESHOLD) -> jax.Array:
    """(9, H, W) float masks: pixel in region c when every channel is within `threshold` of
    MASK_COLORS[c] (the reference's rule: < 0.1, > 0.9, or in (0.4, 0.6) for grey)."""
    colors = jnp.asarray(list(MASK_COLORS.values()), jnp.float32)  # (9, 3)
    rgb = jnp.asarray(rgb, jnp.float32)
    inside = jnp.abs(rgb[None] - colors[:, None, None, :]) < threshold
    return jnp.all(inside, axis=-1).astype(jnp.float32)


def load_color_masks(path: str | Path, size: tuple[int, int] | None = None) -> jax.Array:
    """Colour-coded masks of an image file, parsed at its own resolution then area-resized to
    `size` (h, w) if given: (9, h, w) in [0, 1].

    Raises StyljaxError if more than 10% of the pixels match none of the 9 colours (not a mask).
    """
    masks = color_masks(image_lib.load_image(path))
    unassigned = 1.0 - float(masks.sum(axis=0).mean())
    if unassigned > MAX_UNASSIGNED:
        names = ", ".join(MASK_COLORS)
        raise StyljaxError(
            f"{path}: {unassigned:.0%} of the pixels match none of the mask colours ({names}); "
            "is this a colour-coded mask?"
        )
    return masks if size is None else feature_losses.resize_mask(masks, size)


def pair_masks(content_masks: jax.Array, style_masks: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Keep the regions present (any pixel > 0) in both: (R, H, W), (R, Hs, Ws), R ≥ 1."""
    both = (np.asarray(content_masks).max(axis=(1, 2)) > 0) & (np.asarray(style_masks).max(axis=(1, 2)) > 0)
    if not both.any():
        raise StyljaxError("the content and style masks have no region (colour) in common")
    keep = np.flatnonzero(both)
    return jnp.asarray(content_masks)[keep], jnp.asarray(style_masks)[keep]


def _tonal_regions(img: jax.Array, k: int, seed: int) -> jax.Array:
    """k-means of the luminance into k one-hot masks (k, H, W), darkest cluster first."""
    y = color.rgb_to_yuv(jnp.asarray(img, jnp.float32))[..., :1]
    masks = kmeans_masks(y[None], k, seed)[0]  # (k, H, W), arbitrary order
    area = jnp.maximum(masks.sum(axis=(1, 2)), 1.0)
    mean_y = (masks * y[..., 0]).sum(axis=(1, 2)) / area
    return masks[jnp.argsort(mean_y)]


def auto_masks(content, style, k: int, seed: int = 0) -> tuple[jax.Array, jax.Array]:
    """Automatic region pairs without hand-drawn masks: k tonal zones per image, paired by rank.

    Each image's luminance is clustered on its own (k-means, `styljax.nets.stylebank.kmeans_masks`)
    and the clusters are paired darkest-with-darkest, …, brightest-with-brightest: shadows take the
    style's shadows, highlights its highlights. Per-image clustering always gives k pairs, where a
    joint colour clustering of two unrelated photos tends to put them in disjoint clusters.
    Returns paired masks (R, H, W), (R, Hs, Ws) (empty clusters dropped by `pair_masks`).
    """
    if k < 1:
        raise ValueError(f"auto_masks needs k >= 1, got {k}")
    return pair_masks(_tonal_regions(content, k, seed), _tonal_regions(style, k, seed + 1))

