"""Deep Photo Style Transfer (Luan et al. 2017), on the shared optimisation loop.

DPST adds to the Gatys objective (`styljax.optimization.gatys`) two things:

* a segmentation-augmented style loss: Gram matrices are matched region by region (content region
  r against style region r, `styljax.losses.feature_losses.region_style_loss`); regions come from colour-coded
  masks (`styljax.optimization.region_masks.load_color_masks`, the reference's 9 colours) or from
  `region_masks.auto_masks`;
* the photorealism regulariser λ·E_m, E_m = Σ_c x_cᵀ L x_c, with L the matting Laplacian of the
  content photo (`styljax.optimization.matting`).

It runs in two stages (`iterate`), as the reference's two scripts: stage 1 optimises content +
region style + TV from the content (or noise); stage 2 restarts L-BFGS from that result with
λ·E_m added. Both stages run on `styljax.optimization.optimize.Loop`.

The cheap alternative, a guided filter usable on any method's output, is `styljax.imaging.guided.photoreal`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np

from styljax.losses import feature_losses
from styljax.optimization import gatys, optimize
from styljax.io import image as image_lib
from styljax.imaging import geometry
from styljax.optimization.matting import check_radius, matting_energy, whitened_windows
from styljax.optimization.optimize import Step
from styljax.nets.vgg import VggWeights


@dataclasses.dataclass(frozen=True)
class PhotoConfig:
    """Everything that defines a DPST run; `steps` = (stage 1, stage 2) optimiser steps.

    Loss conventions are `styljax.losses.feature_losses`': Gram `chw` and MSE content, which are exactly the
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
    optimizer: str = "lbfgs"  # or "adam"
    learning_rate: float = 0.02
    lbfgs_memory: int = 10
    max_side: int = 512
    steps: tuple[int, int] = (200, 200)
    init: str = "content"  # stage 1 start: "content" or "noise"
    seed: int = 0
    max_evals: int | None = None  # per stage, see styljax.optimization.optimize.OptimConfig

    def __post_init__(self):
        self.optim()  # checks the optimiser settings
        optimize.check_choices({
            "init": (self.init, ("content", "noise")),
            "gram_norm": (self.gram_norm, feature_losses.GRAM_NORMS),
            "pooling": (self.pooling, ("max", "avg")),
        })
        if len(self.steps) != 2 or min(self.steps) < 0:
            raise ValueError(f"steps must be two non-negative counts (stage 1, stage 2), got {self.steps}")
        if self.max_side < 16 or self.matting_radius < 1 or self.matting_weight < 0:
            raise ValueError("max_side must be >= 16, matting_radius >= 1, matting_weight >= 0")

    def optim(self) -> optimize.OptimConfig:
        """The optimiser settings of both stages."""
        return optimize.OptimConfig(self.optimizer, self.learning_rate, self.lbfgs_memory, max_evals=self.max_evals)

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for n, _ in self.content_layers + self.style_layers))


def make_loss(weights: VggWeights, cfg: PhotoConfig):
    """The DPST objective for `cfg`.

    Returns (targets_fn, loss_fn), both pure.

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
        grams = feature_losses.region_grams({l: style_feats[l] for l in style_w}, style_masks[None], cfg.gram_norm)
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
            "content": cfg.content_weight * feature_losses.content_loss(feats, targets["content"], content_w),
            "style": cfg.style_weight
            * feature_losses.region_style_loss(feats, targets["style"], targets["masks"], style_w, cfg.gram_norm),
            "tv": cfg.tv_weight * feature_losses.tv_loss(x[None]),
            "matting": matting(targets, x),
        }
        return sum(parts.values()), parts

    return targets_fn, loss_fn


def _fit(img: jax.Array, max_side: int) -> jax.Array:
    return geometry.resize(img, image_lib.fit_max_side(img.shape[0], img.shape[1], max_side))


def _region_masks(masks, hw: tuple[int, int]) -> jax.Array:
    if masks is None:
        return jnp.ones((1, *hw), jnp.float32)
    return feature_losses.resize_mask(jnp.asarray(masks, jnp.float32), hw)


def iterate(
    weights: VggWeights,
    content: np.ndarray | jax.Array,
    style: np.ndarray | jax.Array,
    cfg: PhotoConfig = PhotoConfig(),
    content_masks: np.ndarray | jax.Array | None = None,
    style_masks: np.ndarray | jax.Array | None = None,
    every: int = 1,
) -> Iterator[Step]:
    """Run both stages, yielding a `styljax.optimization.optimize.Step` (its `stage`: 0 or 1) every `every`
    steps and at each stage's end. Images are float RGB [0, 1] (H, W, 3), resized to
    `cfg.max_side`; masks are paired (R, H, W) / (R, Hs, Ws) at any resolution
    (`styljax.optimization.region_masks.pair_masks`), or both None for the plain style loss."""
    if (content_masks is None) != (style_masks is None):
        raise ValueError("give both content_masks and style_masks, or neither")
    if content_masks is not None and len(content_masks) != len(style_masks):
        raise ValueError(f"{len(content_masks)} content regions but {len(style_masks)} style regions")
    content = _fit(jnp.asarray(content, jnp.float32), cfg.max_side)
    style = _fit(jnp.asarray(style, jnp.float32), cfg.max_side)
    check_radius(content.shape[:2], cfg.matting_radius)
    cm = _region_masks(content_masks, content.shape[:2])
    sm = _region_masks(style_masks, style.shape[:2])

    targets_fn, loss_fn = make_loss(weights, cfg)
    targets_fn = jax.jit(targets_fn)
    loop = optimize.Loop(lambda x, aux: loss_fn(aux[0], aux[1], x), cfg.optim())
    params = weights.params

    if cfg.init == "content":
        x = content
    else:
        x = jax.random.uniform(jax.random.key(cfg.seed), content.shape, jnp.float32)
    global_step = 0
    for stage, (n_steps, lam) in enumerate(zip(cfg.steps, (0.0, cfg.matting_weight))):
        targets = targets_fn(params, content, style, cm, sm, lam)
        x = jnp.clip(x, 0.0, 1.0)  # the reference starts stage 2 from the saved stage-1 image
        for step in loop.run(x, (params, targets), n_steps, stage=stage, start=global_step, every=every):
            x, global_step = step.image, step.global_step
            yield step


def finish(x: jax.Array) -> np.ndarray:
    """The displayable result: clipped to [0, 1]."""
    return np.clip(np.asarray(x), 0.0, 1.0)


def stylize(
    weights: VggWeights, content, style, cfg: PhotoConfig = PhotoConfig(), content_masks=None, style_masks=None
) -> np.ndarray:
    """Run `iterate` to the end and return the result (H, W, 3) in [0, 1]."""
    last = None
    for last in iterate(weights, content, style, cfg, content_masks, style_masks, every=1 << 30):
        pass
    if last is None:
        raise ValueError("no optimisation steps were requested")
    return finish(last.image)
