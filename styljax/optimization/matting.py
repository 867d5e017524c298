"""The matting Laplacian of Levin, Lischinski, Weiss 2008, matrix-free: DPST's photorealism term.

E_m = Σ_c x_cᵀ L x_c with L the matting Laplacian of a guide photo. L·v = 0 exactly when v is a
local affine function of the guide's colours in every window, so E_m penalises any change that is
not locally a colour transform of the photo. Windows: `styljax.imaging.windows` (radius 1: 3×3, as DPST).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from styljax.imaging.windows import scatter_patches, window_patches


def _float(x) -> jax.Array:
    """x as a JAX float array: float64 stays float64 (under x64), anything else becomes float32."""
    x = jnp.asarray(x)
    return x.astype(jnp.result_type(x.dtype, jnp.float32))



def check_radius(hw: tuple[int, int], radius: int) -> None:
    """Raise ValueError unless windows of `radius` (>= 1) fit an image of size `hw`."""
    if radius < 1 or min(hw) < 2 * radius + 1:
        raise ValueError(f"window radius must be >= 1 and fit the image (2r+1 px per side), got {radius} for {hw}")



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
    check_radius(guide.shape[:2], radius)
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
    check_radius(guide.shape[:2], radius)
    return matting_energy(whitened_windows(guide, eps, radius), x)

