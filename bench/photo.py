"""Photorealism kernels: the matrix-free matting Laplacian vs the explicit sparse matrix, and the
`--photoreal` guided filter by radius.

    python -m bench.photo [--sizes 128,256,512] [--radii 1,15,60] > bench/results/photo.jsonl

Cases (one JSON line each)
-----
laplacian  L·v for a scikit-image photo (*coffee*, resized to N×N) as guide and a random v (N, N, 3):
           `styljax.optimization.matting.matting_laplacian_apply` (jitted; its gradient too) against the exact
           reference, Levin's L assembled as a SciPy sparse matrix from the definition (as the
           reference repo's Matlab `getLaplacian1`, 3×3 windows, ε = 1e-7; assembly time
           reported separately) and applied as a sparse mat-vec; `rel_err` = ‖Lv − L_sparse v‖/‖L_sparse v‖.
guided     `styljax.imaging.guided.photoreal`'s guided filter at 512² for each radius (box sums by cumulative
           sums, so the cost should not grow with the radius).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse

from bench.common import emit, machine_info, timeit_clean
from styljax.imaging import guided
from styljax.imaging import geometry
from styljax.optimization import matting


def sparse_laplacian(guide: np.ndarray, eps: float = 1e-7) -> scipy.sparse.csr_matrix:
    """Levin et al.'s matting Laplacian (3×3 windows fully inside the image) in float64 CSR:
    L = Σ_k (δ_ij − (1 + (I_i − μ_k)ᵀ (Σ_k + ε/9·Id)⁻¹ (I_j − μ_k)) / 9), i, j ∈ window k."""
    g = np.asarray(guide, np.float64)
    h, w = g.shape[:2]
    idx = np.arange(h * w).reshape(h, w)
    offs = [(dy, dx) for dy in range(3) for dx in range(3)]
    pix = np.stack([idx[dy : dy + h - 2, dx : dx + w - 2].ravel() for dy, dx in offs], axis=1)  # (K, 9)
    colours = g.reshape(-1, 3)[pix]  # (K, 9, 3)
    d = colours - colours.mean(axis=1, keepdims=True)
    cov = np.einsum("kic,kid->kcd", d, d) / 9 + (eps / 9) * np.eye(3)
    a = (1.0 + np.einsum("kic,kcd,kjd->kij", d, np.linalg.inv(cov), d)) / 9  # (K, 9, 9)
    vals = (np.eye(9)[None] - a).ravel()
    rows = np.repeat(pix, 9, axis=1).ravel()
    cols = np.tile(pix, (1, 9)).ravel()
    return scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(h * w, h * w)).tocsr()


def case_laplacian(size: int, guide_photo: np.ndarray) -> None:
    guide = np.asarray(geometry.resize(guide_photo, (size, size)), np.float32)
    v = np.random.default_rng(0).uniform(size=(size, size, 3)).astype(np.float32)
    g, x = jnp.asarray(guide), jnp.asarray(v)
    apply = jax.jit(lambda x: matting.matting_laplacian_apply(g, x))
    grad = jax.jit(jax.grad(lambda x: matting.matting_loss(g, x)))
    jax.block_until_ready(apply(x))
    jax.block_until_ready(grad(x))
    t_apply = timeit_clean(lambda: jax.block_until_ready(apply(x)))
    t_grad = timeit_clean(lambda: jax.block_until_ready(grad(x)))
    rec = {"case": "laplacian", "size": size, "jax_apply_s": t_apply["median_s"], "jax_grad_s": t_grad["median_s"]}
    if size <= 256:
        t0 = time.perf_counter()
        L = sparse_laplacian(guide)
        rec["sparse_assembly_s"] = time.perf_counter() - t0
        flat = v.reshape(-1, 3).astype(np.float64)
        rec["sparse_apply_s"] = timeit_clean(lambda: L @ flat)["median_s"]
        ref = (L @ flat).reshape(size, size, 3)
        rec["rel_err"] = float(np.linalg.norm(np.asarray(apply(x)) - ref) / np.linalg.norm(ref))
        rec["nnz"] = int(L.nnz)
    emit(rec)


def case_guided(radius: int, guide_photo: np.ndarray, size: int = 512) -> None:
    guide = jnp.asarray(geometry.resize(guide_photo, (size, size)), jnp.float32)
    target = jnp.asarray(np.random.default_rng(1).uniform(size=(size, size, 3)), jnp.float32)
    fn = jax.jit(lambda t: guided.guided_filter(guide, t, radius, guided.PHOTOREAL_EPS))
    jax.block_until_ready(fn(target))
    st = timeit_clean(lambda: jax.block_until_ready(fn(target)))
    emit({"case": "guided", "size": size, "radius": radius, "s": st["median_s"]})


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="128,256,512")
    p.add_argument("--radii", default="1,15,60")
    args = p.parse_args(argv)
    import skimage.data

    coffee = skimage.data.coffee().astype(np.float32) / 255.0
    emit({"bench": "photo", "kind": "header", **machine_info()})
    for n in (int(s) for s in args.sizes.split(",")):
        case_laplacian(n, coffee)
    for r in (int(s) for s in args.radii.split(",")):
        case_guided(r, coffee)


if __name__ == "__main__":
    main()
