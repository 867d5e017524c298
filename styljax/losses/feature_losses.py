"""Perceptual losses on VGG features: content, Gram style (optionally masked by region), TV.

Everything is batched (features are (B, H, W, C)), jit-able, and returns a scalar averaged over
the batch, so loss weights do not depend on the batch size.

Gram normalisation is explicit because loss weights mean nothing without it. With F the (HW, C)
matrix of one layer and G = FᵀF:

=========  ==========================  ===========================================  ===========
name       Gram                        layer loss                                   used by
=========  ==========================  ===========================================  ===========
``chw``    G / (C·H·W)                 mean over the C² entries of (G − A)²         neural-style,
                                                                                    Johnson
``hw``     G / (H·W)                   mean over the C² entries of (G − A)²         Magenta (CIN)
``gatys``  G                           Σ (G − A)² / (4 C² (HW)²)                    Gatys et al.
=========  ==========================  ===========================================  ===========

With a region mask m (values in [0, 1], at the layer's resolution) the features are multiplied by
m and HW is replaced by Σm (Deep Photo Style Transfer divides by C·H·W·mean(m), the same thing).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp

GRAM_NORMS = ("chw", "hw", "gatys")


def _check_norm(norm: str) -> None:
    if norm not in GRAM_NORMS:
        raise ValueError(f"gram norm must be one of {GRAM_NORMS}, got {norm!r}")


@jax.custom_vjp
def _self_gram(f: jax.Array) -> jax.Array:
    """FᵀF per image, f (B, N, C) → (B, C, C)."""
    return jnp.einsum("bnc,bnd->bcd", f, f)


def _self_gram_fwd(f):
    return _self_gram(f), f


def _self_gram_bwd(f, dg):
    # ∂⟨dG, FᵀF⟩/∂F = F (dG + dGᵀ): one matmul where autodiff of the einsum does two
    return (jnp.einsum("bnc,bcd->bnd", f, dg + jnp.swapaxes(dg, 1, 2)),)


_self_gram.defvjp(_self_gram_fwd, _self_gram_bwd)


def gram(features: jax.Array, norm: str = "chw", mask: jax.Array | None = None) -> jax.Array:
    """Gram matrices (B, C, C) of features (B, H, W, C), normalised as `norm`.

    `mask` (B, H, W) or (H, W) at the features' resolution weights the positions (region Gram).
    """
    _check_norm(norm)
    b, h, w, c = features.shape
    f = features.astype(jnp.float32).reshape(b, h * w, c)
    if mask is None:
        count = jnp.float32(h * w)
    else:
        m = jnp.broadcast_to(mask, (b, h, w)).reshape(b, h * w, 1).astype(jnp.float32)
        f = f * m
        count = jnp.maximum(m.sum(axis=(1, 2)), 1e-6)[:, None, None]
    g = _self_gram(f)
    if norm == "chw":
        return g / (c * count)
    if norm == "hw":
        return g / count
    return g  # gatys: normalised in the layer loss


def gram_distance(g: jax.Array, a: jax.Array, norm: str = "chw", count: jax.Array | None = None) -> jax.Array:
    """Per-image layer style loss between Gram matrices g (B, C, C) and targets a ((B,) C, C).

    For ``gatys`` `count` is the number of positions (HW or Σm) the Gram summed over.
    """
    _check_norm(norm)
    d2 = jnp.square(g - a)
    if norm == "gatys":
        c = g.shape[-1]
        return d2.sum(axis=(-1, -2)) / (4.0 * c**2 * jnp.square(count))
    return d2.mean(axis=(-1, -2))


def content_loss(
    features: Mapping[str, jax.Array], targets: Mapping[str, jax.Array], weights: Mapping[str, float]
) -> jax.Array:
    """Σ_l w_l · mean((F_l − T_l)²), averaged over the batch (targets broadcast over it)."""
    total = jnp.float32(0.0)
    for layer, w in weights.items():
        total += w * jnp.mean(jnp.square(features[layer].astype(jnp.float32) - targets[layer]))
    return total


def style_loss(
    features: Mapping[str, jax.Array],
    target_grams: Mapping[str, jax.Array],
    weights: Mapping[str, float],
    norm: str = "chw",
    image_weights: jax.Array | None = None,
) -> jax.Array:
    """Σ_l w_l · gram_distance(Gram(F_l), A_l), averaged over the batch.

    `target_grams[l]` is (C, C) (one style for the whole batch) or (B, C, C) (a style per image).
    `image_weights` (B,), if given, weights each image's term before the batch mean (0: no style
    term for that image).
    """
    total = jnp.float32(0.0)
    for layer, w in weights.items():
        f = features[layer]
        g = gram(f, norm)
        count = jnp.float32(f.shape[1] * f.shape[2])
        d = gram_distance(g, target_grams[layer], norm, count)  # (B,)
        total += w * jnp.mean(d if image_weights is None else d * image_weights)
    return total


def resize_mask(mask: jax.Array, hw: tuple[int, int]) -> jax.Array:
    """Area-resize masks (..., H, W) to `hw`, keeping values in [0, 1]."""
    shape = mask.shape[:-2] + tuple(hw)
    return jnp.clip(jax.image.resize(mask.astype(jnp.float32), shape, "linear", antialias=True), 0.0, 1.0)


def region_grams(
    features: Mapping[str, jax.Array], masks: jax.Array, norm: str = "chw"
) -> dict[str, jax.Array]:
    """Per-region Grams {layer: (B, R, C, C)} for masks (B, R, H_img, W_img)."""
    out = {}
    for layer, f in features.items():
        m = resize_mask(masks, f.shape[1:3])
        out[layer] = jax.vmap(lambda mr: gram(f, norm, mr), in_axes=1, out_axes=1)(m)
    return out


def region_style_loss(
    features: Mapping[str, jax.Array],
    target_grams: Mapping[str, jax.Array],
    masks: jax.Array,
    weights: Mapping[str, float],
    norm: str = "chw",
) -> jax.Array:
    """Segmentation-augmented style loss (Luan et al. 2017).

    Σ_l w_l Σ_r mean(m_r) · gram_distance(Gram(m_r ⊙ F_l), A_{l,r}), where `masks` (B, R, H, W) are
    the content image's region masks at image resolution and `target_grams[l]` ((B,) R, C, C) the
    style image's Grams of the matching regions (see `region_grams`). A region absent from the
    content (mean(m_r) = 0) contributes nothing.
    """
    total = jnp.float32(0.0)
    for layer, w in weights.items():
        f = features[layer]
        m = resize_mask(masks, f.shape[1:3])  # (B, R, h, w)
        g = jax.vmap(lambda mr: gram(f, norm, mr), in_axes=1, out_axes=1)(m)  # (B, R, C, C)
        count = jnp.maximum(m.sum(axis=(-1, -2)), 1e-6)  # (B, R)
        d = gram_distance(g, target_grams[layer], norm, count)  # (B, R)
        total += w * jnp.mean(jnp.sum(m.mean(axis=(-1, -2)) * d, axis=1))
    return total


def tv_loss(images: jax.Array) -> jax.Array:
    """Total variation: mean over pixels of squared horizontal + vertical differences, batch-mean."""
    x = images.astype(jnp.float32)
    dy = jnp.square(x[:, 1:, :, :] - x[:, :-1, :, :]).mean(axis=(1, 2, 3))
    dx = jnp.square(x[:, :, 1:, :] - x[:, :, :-1, :]).mean(axis=(1, 2, 3))
    return jnp.mean(dx + dy)
