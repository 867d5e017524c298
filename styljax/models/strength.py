"""Style strength s ∈ [0, 1] for the feed-forward models: the shared arithmetic.

Every method interpolates with its own natural control (s = 1: today's output exactly; s = 0: the
content), as `s·a + (1 − s)·b`, which is exact at both ends in floating point (1·a + 0·b = a):

- StyleBank (`stylebank.blend_features`): the bank's output and the un-styled features, through the
  same decoder, O = D(s·(K ⊗ F) + (1 − s)·F). s = 0 is the auto-encoder path `reconstruct`.
- CIN / Johnson (`transform.stylize_with(..., strength=, neutral=)`): γ/β interpolated toward a
  neutral γ/β set (`MODE_GAMMA_BETA`), the model's reserved `identity` style when it has one;
  otherwise the output is faded in pixels toward the photo, O = s·O_style + (1 − s)·I
  (`MODE_PIXEL`). Without an identity style the net has no content path: at γ = 1, β = 0 (the
  "neutral" set, never seen in training) the shipped CIN net keeps no more of the photo's edges
  than the full style (`structure_correlation` 0.13 vs 0.13 over 6 styles × 3 photos; Johnson
  0.03 vs 0.03), while a pixel blend goes from 1.0 at s = 0 to the style's at s = 1
  (`bench.strength`, BENCHMARKS.md). So pixel fading is the fallback.

`strength` is a scalar or one value per image (B,); everything here is jittable.

Bit-exactness at s = 1: XLA compiles a network with a blend fused into it differently from the
same network without (multiply-adds contracted in other places: ~4e-7 after a transform net).
So the models run the blend as its own compiled step between the unchanged ones (StyleBank:
encoder + bank, blend, decoder; CIN/Johnson: γ/β blend, net; or net, pixel blend): at s = 1 the
next step sees bit-identical inputs and the output is today's, bit for bit, also for the images
of a served batch whose neighbours asked for other strengths.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

MODE_FEATURES = "features"  # StyleBank: blend K ⊗ F with F before the decoder
MODE_GAMMA_BETA = "gamma-beta"  # CIN/Johnson with an identity style: γ/β interpolation
MODE_PIXEL = "pixel"  # CIN/Johnson without one: s·O + (1 − s)·I
MODES = (MODE_FEATURES, MODE_GAMMA_BETA, MODE_PIXEL)
IDENTITY_STYLE = "identity"  # the reserved CIN/Johnson style trained with the content loss only


def check_strength(value) -> float:
    """A strength as a Python float, or ValueError (not a number, NaN/inf, or outside [0, 1])."""
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number between 0 and 1, got {value!r}") from None
    if not math.isfinite(s) or not 0.0 <= s <= 1.0:
        raise ValueError(f"expected a number between 0 and 1, got {value!r}")
    return s


def per_image(strength, ndim: int) -> jax.Array:
    """A scalar or (B,) strength as float32, shaped to broadcast over (B, ...) arrays of rank `ndim`."""
    s = jnp.asarray(strength, jnp.float32)
    if s.ndim == 0:
        return s
    if s.ndim != 1:
        raise ValueError(f"strength must be a scalar or (B,), got shape {s.shape}")
    return s.reshape(s.shape + (1,) * (ndim - 1))


def lerp(a: jax.Array, b: jax.Array, strength) -> jax.Array:
    """s·a + (1 − s)·b in float32 (cast back to a's dtype), s a scalar or (B,) over a's first axis."""
    s = per_image(strength, a.ndim)
    return (s * a.astype(jnp.float32) + (1.0 - s) * b.astype(jnp.float32)).astype(a.dtype)


def pixel_blend(stylized: jax.Array, images: jax.Array, strength) -> jax.Array:
    """O = s·O_style + (1 − s)·I for (B, H, W, 3) images; exact at s = 0 (I) and s = 1 (O_style)."""
    return lerp(stylized, images, strength)


def _sobel_magnitude(x: jax.Array) -> jax.Array:
    """|∇x| by 3×3 Sobel filters (edge-padded) of (..., H, W) maps."""
    pad = [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)]
    p = jnp.pad(x, pad, mode="edge")
    h, w = x.shape[-2:]

    def at(dy, dx):
        return p[..., dy : dy + h, dx : dx + w]

    gx = (at(0, 2) + 2 * at(1, 2) + at(2, 2)) - (at(0, 0) + 2 * at(1, 0) + at(2, 0))
    gy = (at(2, 0) + 2 * at(2, 1) + at(2, 2)) - (at(0, 0) + 2 * at(0, 1) + at(0, 2))
    return jnp.sqrt(gx * gx + gy * gy + 1e-12)


def _blur(x: jax.Array, sigma: float) -> jax.Array:
    """Separable Gaussian blur (edge-padded) of (..., H, W) maps."""
    r = max(1, int(math.ceil(3 * sigma)))
    k = jnp.exp(-0.5 * (jnp.arange(-r, r + 1, dtype=jnp.float32) / sigma) ** 2)
    k = k / k.sum()
    pad = [(0, 0)] * (x.ndim - 2)
    p = jnp.pad(x, pad + [(r, r), (0, 0)], mode="edge")
    x = sum(k[i] * p[..., i : i + x.shape[-2], :] for i in range(2 * r + 1))
    p = jnp.pad(x, pad + [(0, 0), (r, r)], mode="edge")
    return sum(k[i] * p[..., :, i : i + x.shape[-1]] for i in range(2 * r + 1))


def structure_correlation(images: jax.Array, reference: jax.Array, sigma: float = 1.5) -> jax.Array:
    """How well `images` keep `reference`'s structure: the Pearson correlation of the Sobel edge
    magnitudes of their Gaussian-blurred (σ px) BT.601 luminance. (..., H, W, 3) → (...); 1 =
    the same edges (up to contrast), ~0 = unrelated. Used to pick the CIN/Johnson strength mode."""
    weights = jnp.asarray([0.299, 0.587, 0.114], jnp.float32)

    def edges(x):
        return _sobel_magnitude(_blur(jnp.asarray(x, jnp.float32) @ weights, sigma))

    a, b = edges(images), edges(reference)
    a = a - a.mean(axis=(-2, -1), keepdims=True)
    b = b - b.mean(axis=(-2, -1), keepdims=True)
    num = (a * b).sum(axis=(-2, -1))
    return num / jnp.sqrt((a * a).sum(axis=(-2, -1)) * (b * b).sum(axis=(-2, -1)) + 1e-20)


__all__ = [
    "IDENTITY_STYLE",
    "MODES",
    "MODE_FEATURES",
    "MODE_GAMMA_BETA",
    "MODE_PIXEL",
    "check_strength",
    "lerp",
    "per_image",
    "pixel_blend",
    "structure_correlation",
]
