"""Photorealism: Deep Photo Style Transfer (Luan et al. 2017) and a fast local-affine post-process.

DPST adds to the Gatys objective (`styljax.gatys`) two things:

* a segmentation-augmented style loss: Gram matrices are matched region by region (content region
  r against style region r, `styljax.losses.region_style_loss`); regions come from colour-coded
  masks (`load_color_masks`, the reference's 9 colours) or, here, from `auto_masks`;
* the photorealism regulariser λ·E_m, E_m = Σ_c x_cᵀ L x_c, with L the matting Laplacian of the
  content photo (Levin, Lischinski, Weiss 2008). L·v = 0 exactly when v is a local affine function
  of the content's colours in every window, so E_m penalises any change that is not locally a
  colour transform of the photo.

It runs in two stages (`iterate`), as the reference's two scripts: stage 1 optimises content +
region style + TV from the content (or noise); stage 2 restarts L-BFGS from that result with
λ·E_m added.

`photoreal` is the cheap alternative: a colour guided filter (He, Sun, Tang 2010) that refits any
stylised image as a local affine function of the content, usable on any method's output.

Windows follow Levin et al.: every (2r+1)×(2r+1) window lying fully inside the image (radius 1:
3×3, as DPST). A pixel near the border is covered by fewer windows; `spread` and the counts take
care of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from styljax import gatys, losses
from styljax import image as image_lib
from styljax.errors import StyljaxError
from styljax.models.stylebank import kmeans_masks
from styljax.vgg import VggWeights

# --------------------------------------------------------------------------------------------
# Box filters over fully-inside windows
# --------------------------------------------------------------------------------------------


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


def _float(x) -> jax.Array:
    """x as a JAX float array: float64 stays float64 (under x64), anything else becomes float32."""
    x = jnp.asarray(x)
    return x.astype(jnp.result_type(x.dtype, jnp.float32))


def _outer(u: jax.Array, v: jax.Array) -> jax.Array:
    """Per-position outer products u vᵀ: (..., C), (..., D) → (..., C, D)."""
    return u[..., :, None] * v[..., None, :]


def _check_radius(hw: tuple[int, int], radius: int) -> None:
    if radius < 1 or min(hw) < 2 * radius + 1:
        raise ValueError(f"window radius must be >= 1 and fit the image (2r+1 px per side), got {radius} for {hw}")


# --------------------------------------------------------------------------------------------
# Matting Laplacian (Levin et al. 2008), matrix-free
# --------------------------------------------------------------------------------------------


def whitened_windows(guide: jax.Array, eps: float = 1e-7, radius: int = 1) -> jax.Array:
    """z_{k,o} = W_k (I_{k+o} − μ_k) for every window k and offset o: (|w|, h, w, 3).

    μ_k, Σ_k are the mean and (biased) covariance of the guide's colours in window k, and
    W_k = chol(Σ_k + ε/|w|·Id)⁻¹, so z_{k,i}ᵀ z_{k,j} = (I_i − μ_k)ᵀ (Σ_k + ε/|w|·Id)⁻¹ (I_j − μ_k).
    Levin's window term is then
        A^k_ij = (1 + z_{k,i}ᵀ z_{k,j}) / |w|,   L = Σ_k (Id − A^k).

    The covariance is taken from explicitly centred patches, not from box sums of I·Iᵀ: with
    ε/|w| ≈ 1e-8, E[I Iᵀ] − μμᵀ in float32 loses everything to cancellation (on an 8-bit photo,
    the box-sum form had 4% relative error in L·v; this one 2e-5). The price is O(|w|) memory
    and work per pixel, which is nothing for the 3×3 windows DPST uses.
    """
    n = (2 * radius + 1) ** 2
    p = window_patches(_float(guide), radius)  # (n, h, w, 3)
    d = p - p.mean(axis=0)
    cov = jnp.einsum("nhwc,nhwd->hwcd", d, d) / n + (eps / n) * jnp.eye(3, dtype=d.dtype)
    chol = jnp.linalg.cholesky(cov)
    eye = jnp.broadcast_to(jnp.eye(3, dtype=d.dtype), cov.shape)
    whiten = jax.scipy.linalg.solve_triangular(chol, eye, lower=True)
    return jnp.einsum("hwcd,nhwd->nhwc", whiten, d)


def laplacian_apply(windows: jax.Array, v: jax.Array) -> jax.Array:
    """L·v from `whitened_windows`, for v (H, W) or (H, W, C) (each channel separately).

    Per window k the ridge fit of v on the guide's colours leaves residuals
        e_{k,o} = (v_{k+o} − v̄_k) − z_{k,o}ᵀ ẑ_k,   ẑ_k = (1/|w|) Σ_o z_{k,o} (v_{k+o} − v̄_k),
    and (L v)_i = Σ_{k ∋ i} e_{k, i−k}. This equals the textbook form
        (L v)_i = n_i v_i − (Σ_{k∋i} a_k)ᵀ I_i − Σ_{k∋i} b_k,
        a_k = (Σ_k + ε/|w|·Id)⁻¹ cov_k(I, v),  b_k = v̄_k − a_kᵀ μ_k,
    but never forms a_k, which reaches 1e6 in flat windows and ruins float32.
    """
    n = windows.shape[0]
    radius = (round(n**0.5) - 1) // 2
    flat = v.ndim == 2
    v = _float(v[..., None] if flat else v)
    dv = window_patches(v, radius)
    dv = dv - dv.mean(axis=0)  # (n, h, w, C)
    zv = jnp.einsum("nhwc,nhwd->hwcd", windows, dv) / n  # (h, w, 3, C)
    residual = dv - jnp.einsum("nhwc,hwcd->nhwd", windows, zv)
    out = scatter_patches(residual, radius)
    return out[..., 0] if flat else out


@partial(jax.jit, static_argnames=("radius",))
def matting_laplacian_apply(guide: jax.Array, v: jax.Array, eps: float = 1e-7, radius: int = 1) -> jax.Array:
    """L·v for the matting Laplacian L of guide (H, W, 3) in [0, 1]; v (H, W) or (H, W, C)."""
    _check_radius(guide.shape[:2], radius)
    return laplacian_apply(whitened_windows(guide, eps, radius), v)


def matting_energy(windows: jax.Array, x: jax.Array) -> jax.Array:
    """E_m = Σ_c x_cᵀ L x_c from `whitened_windows` (computed once per guide). ∇E_m = 2 L x."""
    return jnp.sum(_float(x) * laplacian_apply(windows, x))


@partial(jax.jit, static_argnames=("radius",))
def matting_loss(guide: jax.Array, x: jax.Array, eps: float = 1e-7, radius: int = 1) -> jax.Array:
    """E_m = Σ_c x_cᵀ L x_c, DPST's photorealism term for guide (H, W, 3); the caller applies λ.

    A sum over pixels, as the reference (its gradient 2λ·L·x on the [0, 1] image), so the term
    grows with the pixel count while the VGG losses are means: λ is tied to the image size.
    """
    _check_radius(guide.shape[:2], radius)
    return matting_energy(whitened_windows(guide, eps, radius), x)


# --------------------------------------------------------------------------------------------
# Fast photorealistic post-process: colour guided filter
# --------------------------------------------------------------------------------------------

PHOTOREAL_RADIUS = 15
PHOTOREAL_EPS = 1e-4


def _inverse_sym3(s: jax.Array) -> jax.Array:
    """Inverses of symmetric positive-definite 3×3 matrices (..., 3, 3) by cofactors: elementwise
    and vectorised (much faster than a batched `jnp.linalg.solve` on CPU); for well-conditioned
    matrices (the guided filter's ε ≥ 1e-6), not for the matting Laplacian's ε/|w| ≈ 1e-8."""
    a, b, c = s[..., 0, 0], s[..., 0, 1], s[..., 0, 2]
    d, e, f = s[..., 1, 1], s[..., 1, 2], s[..., 2, 2]
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    rows = [jnp.stack(r, axis=-1) for r in ((c00, c01, c02), (c01, c11, c12), (c02, c12, c22))]
    return jnp.stack(rows, axis=-2) / det[..., None, None]


def guided_filter(
    guide: jax.Array, target: jax.Array, radius: int = PHOTOREAL_RADIUS, eps: float = PHOTOREAL_EPS
) -> jax.Array:
    """He et al.'s colour guided filter: target (H, W, C) refit as a local affine function of guide.

    Per window k (least squares with ridge ε, He's convention: ε added to the covariance):
        a_k = (Σ_k + ε·Id)⁻¹ cov_k(I, p)   (3 × C),   b_k = p̄_k − a_kᵀ μ_k,
    then q_i = ā_iᵀ I_i + b̄_i with ā, b̄ the means over the windows containing i. All window
    statistics are cumulative-sum box filters (O(1) per pixel in the radius); guide and target are
    centred on their image means first, which keeps float32 cumulative sums accurate. The radius
    is reduced to fit small images.
    """
    h, w = guide.shape[:2]
    radius = min(radius, (min(h, w) - 1) // 2)
    if radius < 1:
        return target
    guide = guide.astype(jnp.float32)
    target = target.astype(jnp.float32)
    g = guide - guide.mean(axis=(0, 1))
    p_mean = target.mean(axis=(0, 1))
    p = target - p_mean
    mu = box_mean(g, radius)  # (h', w', 3)
    p_bar = box_mean(p, radius)  # (h', w', C)
    cov = box_mean(_outer(g, g), radius) - _outer(mu, mu)
    cov_gp = box_mean(_outer(g, p), radius) - _outer(mu, p_bar)
    a = _inverse_sym3(cov + eps * jnp.eye(3, dtype=cov.dtype)) @ cov_gp  # (h', w', 3, C)
    b = p_bar - jnp.einsum("hwc,hwcd->hwd", mu, a)
    count = window_count((h, w), radius)
    a_mean = spread(a, radius) / count[..., None]
    b_mean = spread(b, radius) / count
    return jnp.einsum("hwc,hwcd->hwd", g, a_mean) + b_mean + p_mean


_guided_filter_jit = jax.jit(guided_filter, static_argnames=("radius",))


def photoreal(
    content: jax.Array | np.ndarray,
    stylized: jax.Array | np.ndarray,
    radius: int = PHOTOREAL_RADIUS,
    eps: float = PHOTOREAL_EPS,
) -> np.ndarray:
    """The stylised image refit as a local affine colour transform of the content, in [0, 1].

    The content is resized to the stylised image's size and used as the guide. Defaults: radius
    15 (DPST's recommended `-f_radius 15` for its SmoothLocalAffine) and ε = 1e-4 (a colour
    standard deviation of 0.01). Seen on Gatys results of skimage photos at 256 px (coffee with
    rocket's style): radius 4 lets Gatys' chromatic fringes through, 8-15 removes them; ε = 1e-2
    washes out the content's fine detail (crema, rim highlights), 1e-3 slightly, 1e-4 keeps it.
    Its cost does not depend on the radius (about 0.3 s at 512² on 2 shared CPU cores).
    """
    stylized = jnp.asarray(stylized, jnp.float32)
    content = image_lib.resize(jnp.asarray(content, jnp.float32), stylized.shape[:2])
    out = _guided_filter_jit(content, stylized, radius, eps)
    return np.clip(np.asarray(out), 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Segmentation masks
# --------------------------------------------------------------------------------------------

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
    return masks if size is None else losses.resize_mask(masks, size)


def pair_masks(content_masks: jax.Array, style_masks: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Keep the regions present (any pixel > 0) in both: (R, H, W), (R, Hs, Ws), R ≥ 1."""
    both = (np.asarray(content_masks).max(axis=(1, 2)) > 0) & (np.asarray(style_masks).max(axis=(1, 2)) > 0)
    if not both.any():
        raise StyljaxError("the content and style masks have no region (colour) in common")
    keep = np.flatnonzero(both)
    return jnp.asarray(content_masks)[keep], jnp.asarray(style_masks)[keep]


def _tonal_regions(img: jax.Array, k: int, seed: int) -> jax.Array:
    """k-means of the luminance into k one-hot masks (k, H, W), darkest cluster first."""
    y = image_lib.rgb_to_yuv(jnp.asarray(img, jnp.float32))[..., :1]
    masks = kmeans_masks(y[None], k, seed)[0]  # (k, H, W), arbitrary order
    area = jnp.maximum(masks.sum(axis=(1, 2)), 1.0)
    mean_y = (masks * y[..., 0]).sum(axis=(1, 2)) / area
    return masks[jnp.argsort(mean_y)]


def auto_masks(content, style, k: int, seed: int = 0) -> tuple[jax.Array, jax.Array]:
    """Automatic region pairs without hand-drawn masks: k tonal zones per image, paired by rank.

    Each image's luminance is clustered on its own (k-means, `styljax.models.stylebank.kmeans_masks`)
    and the clusters are paired darkest-with-darkest, …, brightest-with-brightest: shadows take the
    style's shadows, highlights its highlights. Per-image clustering always gives k pairs, where a
    joint colour clustering of two unrelated photos tends to put them in disjoint clusters.
    Returns paired masks (R, H, W), (R, Hs, Ws) (empty clusters dropped by `pair_masks`).
    """
    if k < 1:
        raise ValueError(f"auto_masks needs k >= 1, got {k}")
    return pair_masks(_tonal_regions(content, k, seed), _tonal_regions(style, k, seed + 1))


# --------------------------------------------------------------------------------------------
# Deep Photo Style Transfer
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PhotoConfig:
    """Everything that defines a DPST run; `steps` = (stage 1, stage 2) optimiser steps.

    Loss conventions are `styljax.losses`': Gram `chw` and MSE content, which are exactly the
    reference's G/(C·H·W) + MSECriterion, so its content 5 / style 100 carry over (its caffe VGG-19
    and our bundled caffe VGG-16 differ in magnitude, not in convention). Departures, each seen on
    coffee ← rocket at 256 px with the bundled weights:
    * style layers relu1_2…relu4_3 (the Gatys defaults tuned for these weights) instead of
      VGG-19's relu1_1…relu5_1; content relu4_2 as the reference (relu3_3 looked the same);
    * TV 1e2 (the Gatys default). The reference's 1e-3 is on ½·Σ(Δx)² over 0-255 pixels, i.e.
      ≈ 98·H·W times our mean-squared-difference TV (6e6 at 256²): with it stage 1 came out
      blurred (its style term 436 instead of 50);
    * λ = 1e4 on E_m as the reference; E_m is a sum over pixels, so at 256 px it is ~7x weaker
      against the VGG terms than at the reference's ~700 px, and still makes stage 2 photorealistic;
    * 200 + 200 steps (reference 1000 + 1000) from the content (reference: from a constant
      mean-colour image), at 512 px (the reference's Laplacians are computed at <= 700 px).
    """

    content_layers: tuple[tuple[str, float], ...] = (("relu4_2", 1.0),)
    style_layers: tuple[tuple[str, float], ...] = gatys.STYLE_LAYERS
    content_weight: float = 5.0
    style_weight: float = 100.0
    tv_weight: float = 1e2
    matting_weight: float = 1e4
    matting_eps: float = 1e-7
    matting_radius: int = 1
    gram_norm: str = "chw"
    pooling: str = "max"
    optimizer: str = "lbfgs"  # or "adam"; read by gatys.make_step
    learning_rate: float = 0.02
    lbfgs_memory: int = 10
    max_side: int = 512
    steps: tuple[int, int] = (200, 200)
    init: str = "content"  # stage 1 start: "content" or "noise"
    seed: int = 0

    def __post_init__(self):
        checks = {
            "optimizer": (self.optimizer, ("lbfgs", "adam")),
            "init": (self.init, ("content", "noise")),
            "gram_norm": (self.gram_norm, losses.GRAM_NORMS),
            "pooling": (self.pooling, ("max", "avg")),
        }
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if len(self.steps) != 2 or min(self.steps) < 0:
            raise ValueError(f"steps must be two non-negative counts (stage 1, stage 2), got {self.steps}")
        if self.max_side < 16 or self.matting_radius < 1 or self.matting_weight < 0:
            raise ValueError("max_side must be >= 16, matting_radius >= 1, matting_weight >= 0")

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for n, _ in self.content_layers + self.style_layers))


@dataclasses.dataclass
class Step:
    """One optimiser step: stage index (0: stage 1, Gatys + regions; 1: stage 2, + matting), step
    within the stage, global step, current image, loss."""

    stage: int
    step: int
    global_step: int
    image: jax.Array  # (H, W, 3), unclipped
    loss: float
    parts_fn: Callable[[], dict[str, float]]

    def parts(self) -> dict[str, float]:
        """Weighted content, style, TV and matting terms, computed on demand."""
        return self.parts_fn()


def make_loss(weights: VggWeights, cfg: PhotoConfig):
    """Returns (targets_fn, loss_fn), both pure.

    targets_fn(params, content, style, content_masks, style_masks, matting_weight) -> targets:
    content features, the style's region Grams, the content masks and the content's
    `whitened_windows` (the matting Laplacian, computed once as the reference precomputes L).
    loss_fn(params, targets, x) -> (total, {"content", "style", "tv", "matting"}). Masks are
    (R, H, W) at any resolution (one all-ones region = the plain style loss).
    """
    extract = weights.extractor(cfg.layers, cfg.pooling)
    content_w, style_w = dict(cfg.content_layers), dict(cfg.style_layers)

    def targets_fn(params, content, style, content_masks, style_masks, matting_weight):
        feats = extract(params, content[None])
        style_feats = extract(params, style[None])
        grams = losses.region_grams({l: style_feats[l] for l in style_w}, style_masks[None], cfg.gram_norm)
        return {
            "content": {l: feats[l] for l in content_w},
            "style": grams,
            "masks": content_masks[None],
            "matting_windows": whitened_windows(content, cfg.matting_eps, cfg.matting_radius),
            "matting_weight": jnp.asarray(matting_weight, jnp.float32),
        }

    def matting(targets, x):  # skipped in stage 1 (λ = 0)
        lam = targets["matting_weight"]
        energy = lambda: lam * matting_energy(targets["matting_windows"], x)
        return jax.lax.cond(lam > 0, energy, lambda: jnp.float32(0.0))

    def loss_fn(params, targets, x):
        feats = extract(params, x[None])
        parts = {
            "content": cfg.content_weight * losses.content_loss(feats, targets["content"], content_w),
            "style": cfg.style_weight
            * losses.region_style_loss(feats, targets["style"], targets["masks"], style_w, cfg.gram_norm),
            "tv": cfg.tv_weight * losses.tv_loss(x[None]),
            "matting": matting(targets, x),
        }
        return sum(parts.values()), parts

    return targets_fn, loss_fn


def _fit(img: jax.Array, max_side: int) -> jax.Array:
    return image_lib.resize(img, image_lib.fit_max_side(img.shape[0], img.shape[1], max_side))


def _region_masks(masks, hw: tuple[int, int]) -> jax.Array:
    if masks is None:
        return jnp.ones((1, *hw), jnp.float32)
    return losses.resize_mask(jnp.asarray(masks, jnp.float32), hw)


def iterate(
    weights: VggWeights,
    content: np.ndarray | jax.Array,
    style: np.ndarray | jax.Array,
    cfg: PhotoConfig = PhotoConfig(),
    content_masks: np.ndarray | jax.Array | None = None,
    style_masks: np.ndarray | jax.Array | None = None,
) -> Iterator[Step]:
    """Run both stages, yielding after every step. Images are float RGB [0, 1] (H, W, 3), resized
    to `cfg.max_side`; masks are paired (R, H, W) / (R, Hs, Ws) at any resolution (`pair_masks`),
    or both None for the plain style loss."""
    if (content_masks is None) != (style_masks is None):
        raise ValueError("give both content_masks and style_masks, or neither")
    if content_masks is not None and len(content_masks) != len(style_masks):
        raise ValueError(f"{len(content_masks)} content regions but {len(style_masks)} style regions")
    content = _fit(jnp.asarray(content, jnp.float32), cfg.max_side)
    style = _fit(jnp.asarray(style, jnp.float32), cfg.max_side)
    _check_radius(content.shape[:2], cfg.matting_radius)
    cm = _region_masks(content_masks, content.shape[:2])
    sm = _region_masks(style_masks, style.shape[:2])

    targets_fn, loss_fn = make_loss(weights, cfg)
    targets_fn = jax.jit(targets_fn)
    parts_fn = jax.jit(lambda p, t, x: loss_fn(p, t, x)[1])
    opt, step = gatys.make_step(loss_fn, cfg)
    params = weights.params

    if cfg.init == "content":
        x = content
    else:
        x = jax.random.uniform(jax.random.key(cfg.seed), content.shape, jnp.float32)
    global_step = 0
    for stage, (n_steps, lam) in enumerate(zip(cfg.steps, (0.0, cfg.matting_weight))):
        targets = targets_fn(params, content, style, cm, sm, lam)
        x = jnp.clip(x, 0.0, 1.0)  # the reference starts stage 2 from the saved stage-1 image
        opt_state = opt.init(x)
        for i in range(n_steps):
            x, opt_state, value = step(params, targets, x, opt_state)
            global_step += 1
            yield Step(
                stage, i, global_step, x, float(value),
                partial(lambda t, y: {k: float(v) for k, v in parts_fn(params, t, y).items()}, targets, x),
            )


def finish(x: jax.Array) -> np.ndarray:
    """The displayable result: clipped to [0, 1]."""
    return np.clip(np.asarray(x), 0.0, 1.0)


def stylize(
    weights: VggWeights, content, style, cfg: PhotoConfig = PhotoConfig(), content_masks=None, style_masks=None
) -> np.ndarray:
    """Run `iterate` to the end and return the result (H, W, 3) in [0, 1]."""
    last = None
    for last in iterate(weights, content, style, cfg, content_masks, style_masks):
        pass
    if last is None:
        raise ValueError("no optimisation steps were requested")
    return finish(last.image)
