"""Generalised PatchMatch on deep features (Deep Image Analogy), brute-force NNF, voting, flow.

A nearest-neighbour field (NNF) of a map A (H, W, C) into a map B (H2, W2, C) is an int32
(H, W, 2) array: nnf[y, x] = (row, col) in B of the patch that best matches A's patch at (y, x).
The distance is the one of the official CUDA code (GeneralizedPatchMatch.cu): with features
normalised over channels, F̄ = F / (‖F‖₂ + eps),

    d(p, q) = −( Σ_o F̄_A(p+o)·F̄_B(q+o) [+ Σ_o F̄_A'(p+o)·F̄_B'(q+o)] ) / #{o valid}

over the patch offsets o ∈ [−r, r]², r = patch_size // 2, where an offset is valid when p+o
lies in A *and* q+o lies in B (pixels outside either map are skipped, not zero-padded and
counted). Passing `a2`/`b2` gives the paper's bidirectional A/B + A'/B' sum. Lower is better:
d ∈ [−1, 1] ([−2, 2] with a2/b2), and ≤ 0 for non-negative (ReLU) features.

`patchmatch` updates every pixel in parallel (Jacobi): per iteration, jump-flooding propagation
with jumps 8, 4, 2, 1 (candidate from the neighbour at n = p ± jump in rows or cols:
nnf[n] − (n − p), clamped into B), then random search at radii R, R/2, ..., 1 (one uniform sample
per radius in the window of ±r around the current match, clipped to B). A candidate replaces the
current match only if strictly better. `exact_nnf` is the brute-force answer, for tests and
benchmarks. `vote` warps B-side features or pixels through an NNF by patch averaging, and
`nnf_to_flow` / `flow_to_rgb` visualise an NNF (save with `styljax.io.image.save_image`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

JUMPS = (8, 4, 2, 1)
_DIRECTIONS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def normalize(features: jax.Array, eps: float = 1e-8) -> jax.Array:
    """F / (‖F‖₂ + eps) over the last (channel) axis, in float32."""
    f = features.astype(jnp.float32)
    return f / (jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True)) + eps)


def _check_patch_size(patch_size: int) -> int:
    if patch_size < 1 or patch_size % 2 == 0:
        raise ValueError(f"patch_size must be odd and >= 1, got {patch_size}")
    return patch_size // 2


def _joint_features(a, b, a2, b2) -> tuple[jax.Array, jax.Array]:
    """Normalised [F̄_A | F̄_A'] and [F̄_B | F̄_B']: one dot product gives both similarity terms."""
    if (a2 is None) != (b2 is None):
        raise ValueError("give both a2 and b2, or neither")
    if a.ndim != 3 or b.ndim != 3 or a.shape[-1] != b.shape[-1]:
        raise ValueError(f"need (H, W, C) maps with equal C, got {a.shape} and {b.shape}")
    fa, fb = normalize(a), normalize(b)
    if a2 is not None:
        if a2.shape[:2] != a.shape[:2] or b2.shape[:2] != b.shape[:2] or a2.shape[-1] != b2.shape[-1]:
            raise ValueError(f"a2 {a2.shape} / b2 {b2.shape} must match a {a.shape} / b {b.shape} in size")
        fa = jnp.concatenate([fa, normalize(a2)], axis=-1)
        fb = jnp.concatenate([fb, normalize(b2)], axis=-1)
    return fa, fb


def _offsets(r: int) -> list[tuple[int, int]]:
    return [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]


def _distance_fn(fa: jax.Array, fb: jax.Array, r: int, block_floats: int = 1 << 20):
    """Returns `distance(cand)`: cand int (..., H, W, 2), inside B -> d (..., H, W).

    Both maps are zero-padded by r, so an offset outside A or B adds 0 to the sum; the count of
    valid offsets is computed from coordinates. A loop over the p² offsets (a fori_loop, so the
    program does not grow with the patch size) gathers B at cand + o once per offset. The K
    candidates per pixel are laid out (H, W, K) so each offset's similarity is one batched
    mat-vec (H·W batches of K×C · C), faster on XLA:CPU than a multiply-and-sum over (K, H, W, C).
    The rows of A are done in blocks of about `block_floats` gathered floats (`lax.map`), so
    each offset's gathered (rows, W, K, C) block is still in cache when the mat-vec reads it
    (BENCHMARKS.md, PatchMatch).
    """
    (h, w, c), (h2, w2) = fa.shape, fb.shape[:2]
    p = 2 * r + 1
    w2p = w2 + 2 * r
    fb_flat = jnp.pad(fb, ((r, r), (r, r), (0, 0))).reshape(-1, c)

    def distance(cand: jax.Array) -> jax.Array:
        lead = cand.shape[:-3]
        cand = jnp.moveaxis(cand.reshape((-1, h, w, 2)), 0, 2)  # (H, W, K, 2)
        k_cands = cand.shape[2]
        rows = int(min(h, max(1, block_floats // (w * k_cands * c))))
        n_blocks = -(-h // rows)
        h_pad = n_blocks * rows  # padding rows of A: their results are dropped
        fa_pad = jnp.pad(fa, ((r, h_pad - h + r), (r, r), (0, 0)))
        cand = jnp.pad(cand, ((0, h_pad - h), (0, 0), (0, 0), (0, 0)))
        centre_all = (cand[..., 0] + r) * w2p + (cand[..., 1] + r)

        def one_block(y0):
            centre = jax.lax.dynamic_slice_in_dim(centre_all, y0, rows, axis=0)
            blk = jax.lax.dynamic_slice_in_dim(cand, y0, rows, axis=0)
            cy, cx = blk[..., 0], blk[..., 1]
            ys = y0 + jnp.arange(rows)[:, None, None]
            xs = jnp.arange(w)[None, :, None]

            def add_offset(k, acc):
                sim, count = acc
                dy, dx = k // p - r, k % p - r
                fa_o = jax.lax.dynamic_slice(fa_pad, (y0 + r + dy, r + dx, 0), (rows, w, c))  # 0 outside A
                fb_o = fb_flat.at[centre + (dy * w2p + dx)].get(mode="promise_in_bounds")  # (rows, W, K, C)
                in_a = (0 <= ys + dy) & (ys + dy < h) & (0 <= xs + dx) & (xs + dx < w)
                in_b = (0 <= cy + dy) & (cy + dy < h2) & (0 <= cx + dx) & (cx + dx < w2)
                return sim + jnp.einsum("hwkc,hwc->hwk", fb_o, fa_o), count + (in_a & in_b)

            zeros = jnp.zeros(cy.shape, jnp.float32)
            sim, count = jax.lax.fori_loop(0, p * p, add_offset, (zeros, zeros))
            return -sim / jnp.maximum(count, 1.0)  # the centre offset is always valid in A's real rows

        d = jax.lax.map(one_block, jnp.arange(n_blocks) * rows).reshape(h_pad, w, k_cands)[:h]
        return jnp.moveaxis(d, 2, 0).reshape(lead + (h, w))

    return distance


def _clamp(nnf: jax.Array, b_hw: tuple[int, int]) -> jax.Array:
    return jnp.clip(nnf, 0, jnp.array([b_hw[0] - 1, b_hw[1] - 1], nnf.dtype))


def identity_nnf(hw: tuple[int, int], b_hw: tuple[int, int] | None = None) -> jax.Array:
    """The "same place" NNF: (y·H2 // H, x·W2 // W), int32 (H, W, 2); exactly (y, x) when equal sizes."""
    h, w = hw
    h2, w2 = b_hw if b_hw is not None else hw
    ys = jnp.arange(h, dtype=jnp.int32) * h2 // h
    xs = jnp.arange(w, dtype=jnp.int32) * w2 // w
    return jnp.stack(jnp.broadcast_arrays(ys[:, None], xs[None, :]), axis=-1)


@functools.partial(jax.jit, static_argnames=("patch_size",))
def patch_distance(
    a: jax.Array,
    b: jax.Array,
    nnf: jax.Array,
    patch_size: int = 3,
    a2: jax.Array | None = None,
    b2: jax.Array | None = None,
) -> jax.Array:
    """d(p, nnf[p]) for every pixel p of A -> float32 (H, W) (see the module docstring).

    `nnf` is clamped into B first.
    """
    r = _check_patch_size(patch_size)
    fa, fb = _joint_features(a, b, a2, b2)
    return _distance_fn(fa, fb, r)(_clamp(nnf.astype(jnp.int32), fb.shape[:2]))


def _best_of(nnf, dist, cands, cand_dist):
    """Per pixel, the first strictly better of K candidates (K, H, W, 2) with distances (K, H, W)."""
    all_d = jnp.concatenate([dist[None], cand_dist], axis=0)
    all_n = jnp.concatenate([nnf[None], cands], axis=0)
    pick = jnp.argmin(all_d, axis=0)  # first minimum: the current match wins ties
    new_d = jnp.take_along_axis(all_d, pick[None], axis=0)[0]
    new_n = jnp.take_along_axis(all_n, pick[None, ..., None], axis=0)[0]
    return new_n, new_d


@functools.partial(jax.jit, static_argnames=("patch_size", "iters", "radius"))
def patchmatch(
    a: jax.Array,
    b: jax.Array,
    *,
    a2: jax.Array | None = None,
    b2: jax.Array | None = None,
    patch_size: int = 3,
    iters: int = 10,
    radius: int | None = None,
    init: jax.Array | None = None,
    key: jax.Array,
) -> jax.Array:
    """Approximate NNF of A (H, W, C) into B (H2, W2, C) -> int32 (H, W, 2), always inside B.

    Per iteration: propagation for each jump in `JUMPS` (4 candidates nnf[p+δ] − δ, δ = ±jump
    along rows or cols, from the NNF as it was before this jump), then random search at radii
    `radius` (default max(H2, W2)), halved down to 1, each sample uniform in
    [m − r, m + r] ∩ B around the current match m. `init` (default `identity_nnf`) is clamped
    into B. Deterministic given `key`; vmap over a leading axis for same-sized batches (all
    keyword arguments are mapped over axis 0 by vmap, so close over `key` to share it).
    """
    r = _check_patch_size(patch_size)
    fa, fb = _joint_features(a, b, a2, b2)
    (h, w), b_hw = fa.shape[:2], fb.shape[:2]
    radius = max(b_hw) if radius is None else int(radius)
    if radius < 1:
        raise ValueError(f"radius must be >= 1, got {radius}")
    n_scales = radius.bit_length()  # radius, radius // 2, ..., 1
    distance = _distance_fn(fa, fb, r)
    rows, cols = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
    b_max = jnp.array([b_hw[0] - 1, b_hw[1] - 1], jnp.int32)

    nnf = identity_nnf((h, w), b_hw) if init is None else init.astype(jnp.int32)
    nnf = _clamp(nnf, b_hw)
    dist = distance(nnf)

    def propagate(j, state):
        nnf, dist = state
        jump = jnp.asarray(JUMPS)[j]
        cands, inside = [], []
        for sy, sx in _DIRECTIONS:
            ny, nx = rows + sy * jump, cols + sx * jump
            inside.append((0 <= ny) & (ny < h) & (0 <= nx) & (nx < w))
            neighbour = nnf[jnp.clip(ny, 0, h - 1), jnp.clip(nx, 0, w - 1)]
            cands.append(_clamp(neighbour - jnp.stack([sy * jump, sx * jump]), b_hw))
        cands = jnp.stack(cands)
        cand_dist = jnp.where(jnp.stack(inside), distance(cands), jnp.inf)
        return _best_of(nnf, dist, cands, cand_dist)

    def search(s, state, key):
        nnf, dist = state
        r_s = jnp.right_shift(radius, s)
        lo = jnp.maximum(nnf - r_s, 0)
        hi = jnp.minimum(nnf + r_s, b_max)
        cand = jax.random.randint(jax.random.fold_in(key, s), nnf.shape, lo, hi + 1, jnp.int32)
        return _best_of(nnf, dist, cand[None], distance(cand)[None])

    def iteration(i, state):
        state = jax.lax.fori_loop(0, len(JUMPS), propagate, state)
        it_key = jax.random.fold_in(key, i)
        return jax.lax.fori_loop(0, n_scales, lambda s, st: search(s, st, it_key), state)

    nnf, _ = jax.lax.fori_loop(0, iters, iteration, (nnf, dist))
    return nnf


def _exact_block_rows(width: int, b_hw: tuple[int, int], r: int, budget: int = 1 << 24) -> int:
    """Rows of A per block so that one block's similarity array has about `budget` floats."""
    per_row = (width + 2 * r) * (b_hw[0] + 2 * r) * (b_hw[1] + 2 * r)
    return max(1, budget // per_row - 2 * r)


def _valid_counts(n: int, n2: int, r: int) -> np.ndarray:
    """count[i, j] = #{d ∈ [−r, r] : 0 <= i+d < n and 0 <= j+d < n2} (one axis of #{o valid})."""
    d = np.arange(-r, r + 1)
    i = np.arange(n)[:, None, None] + d
    j = np.arange(n2)[None, :, None] + d
    return ((i >= 0) & (i < n) & (j >= 0) & (j < n2)).sum(-1).astype(np.float32)


@functools.partial(jax.jit, static_argnames=("patch_size", "block"))
def exact_nnf(
    a: jax.Array,
    b: jax.Array,
    *,
    a2: jax.Array | None = None,
    b2: jax.Array | None = None,
    patch_size: int = 3,
    block: int | None = None,
) -> jax.Array:
    """Brute-force NNF (argmin of the patch distance over all of B) -> int32 (H, W, 2).

    With zero-padded normalised maps, the pixel similarities M = Ā_pad B̄_padᵀ are one matmul
    per block of `block` rows of A (default: about 2²⁴ floats of M), and the patch similarity is
    a sum of p² shifted slices of M along its diagonals:
        S(p, q) = Σ_o M(p+o, q+o),      d(p, q) = −S(p, q) / (cnt_y · cnt_x)
    where the valid-offset count factorises over rows and cols. Costs H·W·H2·W2·(2C + p²) flops.
    Ties go to the first B position in row-major order (argmin's first index).
    """
    r = _check_patch_size(patch_size)
    fa, fb = _joint_features(a, b, a2, b2)
    (h, w, c), (h2, w2) = fa.shape, fb.shape[:2]
    rows = _exact_block_rows(w, (h2, w2), r) if block is None else int(block)
    rows = min(rows, h)
    n_blocks = -(-h // rows)
    fa_pad = jnp.pad(fa, ((r, n_blocks * rows - h + r), (r, r), (0, 0)))
    fb_pad = jnp.pad(fb, ((r, r), (r, r), (0, 0))).reshape(-1, c)
    cnt_y = np.pad(_valid_counts(h, h2, r), ((0, n_blocks * rows - h), (0, 0)), constant_values=1)
    cnt_y = jnp.asarray(cnt_y)  # padding rows get count 1: their results are dropped
    cnt_x = jnp.asarray(_valid_counts(w, w2, r))

    def one_block(start):
        rows_a = jax.lax.dynamic_slice_in_dim(fa_pad, start, rows + 2 * r, axis=0)
        m = (rows_a.reshape(-1, c) @ fb_pad.T).reshape(rows + 2 * r, w + 2 * r, h2 + 2 * r, w2 + 2 * r)
        sim = sum(
            m[r + dy : r + dy + rows, r + dx : r + dx + w, r + dy : r + dy + h2, r + dx : r + dx + w2]
            for dy, dx in _offsets(r)
        )
        count = jax.lax.dynamic_slice_in_dim(cnt_y, start, rows, axis=0)[:, None, :, None]
        count = count * cnt_x[None, :, None, :]
        dist = (-sim / count).reshape(rows, w, h2 * w2)
        return jnp.argmin(dist, axis=-1).astype(jnp.int32)

    flat = jax.lax.map(one_block, jnp.arange(n_blocks) * rows).reshape(-1, w)[:h]
    return jnp.stack([flat // w2, flat % w2], axis=-1)


# Where `exact_nnf` beats `patchmatch` (bench.patchmatch --dia-sizes, BENCHMARKS.md). PatchMatch reads
# iters·K·p²·C gathered floats per pixel of A (K candidate fields per iteration); the brute force's
# time per pixel of A grew with the pixels of B, N_B, and hardly with C (its p² shifted sums and
# argmin over the N_A×N_B similarity array dominate, not the GEMM). The measured crossover sits at
# N_B ≈ EXACT_CROSSOVER · iters·K·p²·C.
EXACT_CROSSOVER = 0.025


def candidates_per_iteration(radius: int) -> int:
    """K of one `patchmatch` iteration: 4 per propagation jump, 1 per random-search radius."""
    return 4 * len(JUMPS) + int(radius).bit_length()


def nnf_method(
    a_hw: tuple[int, int], b_hw: tuple[int, int], channels: int, patch_size: int, iters: int,
    radius: int | None = None,
) -> str:
    """"exact" where `exact_nnf` can stand in for `patchmatch` and is expected faster, else "patchmatch".

    Only a whole-map search (radius None or >= B's longer side) is an approximation of the global
    optimum that `exact_nnf` returns. With a smaller radius PatchMatch is a local search around
    its initial field (Deep Image Analogy's upsampled coarser NNF), and the global optimum is a
    different, less coherent answer: put in its place it lowered DIA's PCK (BENCHMARKS.md).

    Args:
      a_hw / b_hw: the map sizes of A and B.
      channels: channels per pixel as compared (both terms together when a2/b2 are given).
      patch_size / iters / radius: the `patchmatch` settings it would run with (radius None: whole B).
    Returns:
      "exact" or "patchmatch".
    """
    radius = max(b_hw) if radius is None else int(radius)
    if radius < max(b_hw):
        return "patchmatch"
    pm_floats = iters * candidates_per_iteration(radius) * patch_size**2 * channels
    return "exact" if b_hw[0] * b_hw[1] <= EXACT_CROSSOVER * pm_floats else "patchmatch"


@functools.partial(jax.jit, static_argnames=("hw", "b_hw", "src_b_hw"))
def upsample_nnf(
    nnf: jax.Array,
    hw: tuple[int, int],
    b_hw: tuple[int, int],
    src_b_hw: tuple[int, int] | None = None,
) -> jax.Array:
    """Resize an NNF (h, w, 2) of A into B to A's new size `hw`, pointing into B's new size `b_hw`.

    Nearest-neighbour: pixel P (centre P + ½) of the new A has parent p = ⌊(P + ½)·h/H⌋ and
    sub-pixel offset f = (P + ½)·h/H − p; its match is ⌊(nnf[p] + f)·s⌋, i.e. the parent's
    match plus P's offset inside the parent, scaled by s, then clamped into the new B. With
    `src_b_hw` (B's size the NNF points into) s = b_hw / src_b_hw; without it B is taken to have
    been resized like A, s = hw / (h, w) (the official code). Identity maps to identity when A
    and B have the same sizes.
    """
    h, w = nnf.shape[:2]
    big_h, big_w = hw
    a_scale = np.array([h / big_h, w / big_w], np.float32)
    if src_b_hw is None:
        b_scale = 1.0 / a_scale
    else:
        b_scale = np.array([b_hw[0] / src_b_hw[0], b_hw[1] / src_b_hw[1]], np.float32)
    centres = (identity_nnf((big_h, big_w)).astype(jnp.float32) + 0.5) * a_scale
    parent = jnp.minimum(jnp.floor(centres).astype(jnp.int32), jnp.array([h - 1, w - 1], jnp.int32))
    frac = centres - parent
    match = nnf[parent[..., 0], parent[..., 1]].astype(jnp.float32)
    return _clamp(jnp.floor((match + frac) * b_scale).astype(jnp.int32), b_hw)


@functools.partial(jax.jit, static_argnames=("patch_size",))
def vote(src: jax.Array, nnf: jax.Array, patch_size: int = 3) -> jax.Array:
    """Average-vote warp of `src` (H2, W2, C) (B-side features or pixels) through `nnf` -> float32 (H, W, C).

        out(p) = mean over valid o of src[nnf(p+o) − o]

    An offset is valid when p+o lies in A and nnf(p+o) − o lies in `src`. Each pixel takes the
    average of what the overlapping matched patches say it should be (patch_size 1: plain
    gather).
    """
    r = _check_patch_size(patch_size)
    (h, w), (h2, w2) = nnf.shape[:2], src.shape[:2]
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    total = jnp.zeros((h, w, src.shape[-1]), jnp.float32)
    count = jnp.zeros((h, w, 1), jnp.float32)
    for dy, dx in _offsets(r):
        in_a = (0 <= rows + dy) & (rows + dy < h) & (0 <= cols + dx) & (cols + dx < w)
        match = nnf[np.clip(rows + dy, 0, h - 1), np.clip(cols + dx, 0, w - 1)]
        qy, qx = match[..., 0] - dy, match[..., 1] - dx
        valid = (in_a & (0 <= qy) & (qy < h2) & (0 <= qx) & (qx < w2))[..., None]
        got = src[jnp.clip(qy, 0, h2 - 1), jnp.clip(qx, 0, w2 - 1)].astype(jnp.float32)
        total = total + jnp.where(valid, got, 0.0)
        count = count + valid
    return total / count  # the centre offset is always valid


@jax.jit
def nnf_to_flow(nnf: jax.Array) -> jax.Array:
    """Displacement (dy, dx) = nnf − (y, x), float32 (H, W, 2)."""
    return (nnf - identity_nnf(nnf.shape[:2])).astype(jnp.float32)


@jax.jit
def flow_to_rgb(flow: jax.Array, max_norm: float | None = None) -> jax.Array:
    """Colour-coded flow -> uint8 (H, W, 3): hue = direction, saturation = |flow| / max_norm.

    Value is 1 everywhere, so zero flow is white; saturation is clipped to 1 and `max_norm`
    defaults to the largest |flow| (1 if all zero). Hue 0 (red) is +x (right), 1/4 is +y (down).
    """
    dy, dx = flow[..., 0].astype(jnp.float32), flow[..., 1].astype(jnp.float32)
    mag = jnp.hypot(dy, dx)
    norm = jnp.maximum(jnp.max(mag), 1e-6) if max_norm is None else jnp.float32(max_norm)
    sat = jnp.clip(mag / norm, 0.0, 1.0)
    hue = jnp.mod(jnp.arctan2(dy, dx) / (2 * jnp.pi), 1.0)
    k = jnp.mod(jnp.array([5.0, 3.0, 1.0]) + hue[..., None] * 6.0, 6.0)  # HSV -> RGB, V = 1
    rgb = 1.0 - sat[..., None] * jnp.clip(jnp.minimum(k, 4.0 - k), 0.0, 1.0)
    return jnp.round(rgb * 255.0).astype(jnp.uint8)
