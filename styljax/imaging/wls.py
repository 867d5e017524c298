"""Weighted-least-squares edge-preserving smoothing (Farbman, Fattal, Lischinski, Szeliski 2008).

    S(f) = argmin_u Σ_p (u_p − f_p)² + λ Σ_p a_x,p (∂_x u)_p² + a_y,p (∂_y u)_p²,
    a_·,p = (|∂_· ℓ(g)|_p^α + ε)^−1,   ℓ(g) = log luminance of the guide g,

i.e. u = (I + λ L_g)⁻¹ f with L_g the guide-weighted 5-point Laplacian: one sparse solve (SciPy's
SuperLU, factorised once for every channel). Deep Image Analogy's photo-to-photo refinement
(`WLS.cpp`, α = 1, λ = 0.8, ε = 1e-4) keeps the input's detail layer and takes the result's base
colours: refine = A + S(A′) − S(A) = A + S(A′ − A) with the guide A for both (S is linear).
This runs on the host (NumPy/SciPy): a sparse direct solve has no good XLA equivalent.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg


def _log_luminance(rgb: np.ndarray) -> np.ndarray:
    lum = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.log(np.clip(lum, 0.0, None) + 1e-4)


def smoothing_matrix(guide: np.ndarray, lam: float = 0.8, alpha: float = 1.0, eps: float = 1e-4):
    """The sparse SPD matrix I + λ L_g for a guide (H, W, 3) RGB [0, 1]."""
    h, w = guide.shape[:2]
    log_l = _log_luminance(np.asarray(guide, np.float64))
    ay = np.zeros((h, w))
    ax = np.zeros((h, w))
    ay[:-1, :] = lam / (np.abs(np.diff(log_l, axis=0)) ** alpha + eps)  # edge (y, x)–(y+1, x)
    ax[:, :-1] = lam / (np.abs(np.diff(log_l, axis=1)) ** alpha + eps)  # edge (y, x)–(y, x+1)
    ay, ax = ay.ravel(), ax.ravel()
    diag = 1.0 + ay + ax + np.roll(ay, w) + np.roll(ax, 1)  # rolls bring in zeros from the borders
    n = h * w
    off_y, off_x = -ay[: n - w], -ax[: n - 1]
    return scipy.sparse.diags([diag, off_x, off_x, off_y, off_y], [0, 1, -1, w, -w], format="csc")


def wls_smooth(image: np.ndarray, guide: np.ndarray, lam: float = 0.8, alpha: float = 1.0, eps: float = 1e-4):
    """S(image) (H, W, C) under the guide's edges (see the module docstring)."""
    h, w, c = image.shape
    solve = scipy.sparse.linalg.factorized(smoothing_matrix(guide, lam, alpha, eps))
    flat = np.asarray(image, np.float64).reshape(h * w, c)
    return np.stack([solve(flat[:, i]) for i in range(c)], axis=1).reshape(h, w, c).astype(np.float32)


def refine(a: np.ndarray, a_prime: np.ndarray, lam: float = 0.8, alpha: float = 1.0, eps: float = 1e-4):
    """Photo-to-photo refinement: A + S(A′ − A), clipped to [0, 1] (guide: A)."""
    a = np.asarray(a, np.float32)
    return np.clip(a + wls_smooth(np.asarray(a_prime, np.float32) - a, a, lam, alpha, eps), 0.0, 1.0)
