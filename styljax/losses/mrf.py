"""The MRF style loss of Li & Wand 2016 (CNNMRF): local patches of VGG features, matched to the style's.

For one layer with output features F (H, W, C) and style patches S_j (k×k×C, flattened):

    E = mean_i ‖P_i(F) − S_{m(i)}‖²,   m(i) = argmax_j ⟨P_i(F), S_j⟩ / ‖S_j‖

over every k×k patch P_i of F (stride 1). m(i) is the nearest style patch by normalised
cross-correlation (dividing by ‖P_i‖ too would not change the argmax); it is computed under
`stop_gradient`, so the gradient pulls each patch towards its current match, as the reference's
hand-written backward pass does. All the scores of a layer are one matmul of the output's patches
with the unit-norm style patches (the reference's convolution with normalised style patches).

Style patches are sampled every `stride` positions (CNNMRF samples the style with stride 2); with
stride 1 and the output equal to the style, every patch matches itself and E = 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

NORM_EPS = 1e-8


def _float(x: jax.Array) -> jax.Array:
    """x as a float array: float64 stays float64 (under x64), anything else becomes float32."""
    return x.astype(jnp.result_type(x.dtype, jnp.float32))


def patches(features: jax.Array, size: int = 3, stride: int = 1) -> jax.Array:
    """Every size×size patch of features (H, W, C) at `stride`, flattened: (N, size²·C).

    Built from size² shifted slices (no identity-kernel convolution, whose cost grows with C²).
    """
    h, w = features.shape[0] - size + 1, features.shape[1] - size + 1
    if h < 1 or w < 1:
        raise ValueError(f"features {features.shape[:2]} are smaller than a {size}x{size} patch")
    shifted = [features[dy : dy + h : stride, dx : dx + w : stride] for dy in range(size) for dx in range(size)]
    stacked = jnp.concatenate(shifted, axis=-1)
    return stacked.reshape(-1, stacked.shape[-1])


def targets(style_features: list[jax.Array], size: int = 3, stride: int = 2) -> dict[str, jax.Array]:
    """The style patches of one layer, pooled over style images (each (H, W, C)).

    Returns {"patches": (N, D), "unit": the same divided by their norms}.
    """
    p = jnp.concatenate([patches(_float(f), size, stride) for f in style_features])
    norms = jnp.linalg.norm(p, axis=-1, keepdims=True)
    return {"patches": p, "unit": p / jnp.maximum(norms, NORM_EPS)}


def nearest(output_patches: jax.Array, target: dict[str, jax.Array]) -> jax.Array:
    """Index of each output patch's best style patch by normalised cross-correlation: (N,)."""
    scores = jax.lax.stop_gradient(output_patches) @ target["unit"].T
    return jnp.argmax(scores, axis=-1)


def layer_loss(features: jax.Array, target: dict[str, jax.Array], size: int = 3) -> jax.Array:
    """E for one image's features (H, W, C) against `targets(...)`: mean squared patch distance."""
    p = patches(_float(features), size)
    matched = jax.lax.stop_gradient(target["patches"][nearest(p, target)])
    return jnp.mean(jnp.square(p - matched))


def style_loss(features, style_targets, weights, size: int = 3) -> jax.Array:
    """Σ_l w_l · E_l for a batch of one: features[l] (1, H, W, C), style_targets[l] from `targets`."""
    total = jnp.float32(0.0)
    for layer, w in weights.items():
        total += w * layer_loss(features[layer][0], style_targets[layer], size)
    return total
