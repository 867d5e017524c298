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
  than the full style (`styljax.evaluation.metrics.structure_kept` 0.13 vs 0.13 over 6 styles × 3 photos; Johnson
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
import numpy as np

MODE_FEATURES = "features"  # StyleBank: blend K ⊗ F with F before the decoder
MODE_GAMMA_BETA = "gamma-beta"  # CIN/Johnson with an identity style: γ/β interpolation
MODE_PIXEL = "pixel"  # CIN/Johnson without one: s·O + (1 − s)·I
MODE_STYLE_VECTOR = "style-vector"  # arbitrary style (Magenta): s·v + (1 − s)·(the photo's own vector)
MODES = (MODE_FEATURES, MODE_GAMMA_BETA, MODE_PIXEL, MODE_STYLE_VECTOR)
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


def restore_tone(out: jax.Array, photo: jax.Array, amount=1.0) -> jax.Array:
    """Move each channel's mean and standard deviation of `out` toward the photo's, per image.

    out' = a·((out − μ_o)·σ_p/σ_o + μ_p) + (1 − a)·out, with a = `amount` (a scalar or (B,)): a = 1
    gives `out` the photo's channel statistics exactly, a = 0 returns `out` bit for bit. `out` and
    `photo` are (B, H, W, 3) of the same size.
    """
    mo, so = jnp.mean(out, axis=(1, 2), keepdims=True), jnp.std(out, axis=(1, 2), keepdims=True)
    mp, sp = jnp.mean(photo, axis=(1, 2), keepdims=True), jnp.std(photo, axis=(1, 2), keepdims=True)
    toned = (out - mo) * (sp / (so + 1e-6)) + mp
    return lerp(toned, out, amount)


def even_knots(model_s, remaining) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Knots (s, s_model) that make a control even from a measured curve.

    `remaining[i]` is how far the output at model strength `model_s[i]` (increasing, 0 to 1) still
    is from the full style, as a fraction of the photo's distance (1 at s = 0, 0 at s = 1), e.g.
    by Gram distance. The knots map a control s to the model strength at which 1 − s of that
    distance remains, so the look moves in proportion to s. The ends stay exact: 0 → 0, 1 → 1.
    """
    ms = np.asarray(model_s, np.float64)
    done = 1.0 - np.clip(np.asarray(remaining, np.float64), 0.0, 1.0)
    done = np.maximum.accumulate(done)  # a measured curve may wobble: keep it monotone
    done[0], done[-1] = 0.0, 1.0
    grid = np.linspace(0.0, 1.0, len(ms))
    return tuple(float(v) for v in grid), tuple(float(v) for v in np.interp(grid, done, ms))


def remap(strength, knots):
    """The model strength for control `strength` (None stays None) through `even_knots`' knots
    (None: the identity)."""
    if strength is None or knots is None:
        return strength
    xs, ys = (jnp.asarray(k, jnp.float32) for k in knots)
    return jnp.interp(jnp.asarray(strength, jnp.float32), xs, ys)


def pixel_blend(stylized: jax.Array, images: jax.Array, strength) -> jax.Array:
    """O = s·O_style + (1 − s)·I for (B, H, W, 3) images; exact at s = 0 (I) and s = 1 (O_style)."""
    return lerp(stylized, images, strength)


__all__ = [
    "even_knots",
    "remap",
    "restore_tone",
    "IDENTITY_STYLE",
    "MODES",
    "MODE_FEATURES",
    "MODE_GAMMA_BETA",
    "MODE_PIXEL",
    "check_strength",
    "lerp",
    "per_image",
    "pixel_blend",
]
