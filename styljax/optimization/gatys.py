"""Gatys et al. (2016) style transfer by optimising the image.

    x* = argmin_x  α Σ_l w_l ‖F_l(x) − F_l(c)‖²  +  β Σ_l v_l d(G_l(x), Σ_i s_i G_l(y_i))  +  γ TV(x)

with F the VGG features, G their Gram matrices (normalisation from `styljax.losses.feature_losses`), c the
content image, y_i the style images blended with weights s_i (as neural-style's
`-style_blend_weights`). With `style_loss="mrf"` the Gram term is Li & Wand's MRF patch loss
(`styljax.losses.mrf`) over the style images' pooled patches instead (`MRF_DEFAULTS`: CNNMRF's layers).
Optimised by `styljax.optimization.optimize` (L-BFGS or projected Adam), coarse-to-fine over `sizes`, from the
content, a style or noise.

`iterate` yields a `Step` every `every` optimiser steps so programs can draw progress bars and
write snapshots; `stylize` runs it to the end. Colour preservation (`color="luminance"`) is Gatys
et al. 2017's luminance-only transfer: optimise on luminance (style luminance matched to the
content's mean/std), then put the content's chrominance back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from styljax.io import image as image_lib
from styljax.imaging import geometry
from styljax.imaging import color
from styljax.losses import feature_losses, mrf
from styljax.optimization import optimize
from styljax.optimization.optimize import Step
from styljax.nets.vgg import VggWeights

__all__ = ["GatysConfig", "MRF_DEFAULTS", "STYLE_LAYERS", "Step", "default_config", "default_steps", "finish",
           "halving_sizes", "initial_image", "iterate", "make_loss", "style_blend", "stylize"]


# relu1_2…relu4_3, equal weights: the style layers tuned for the bundled VGG-16 (also DPST's default)
STYLE_LAYERS: tuple[tuple[str, float], ...] = (("relu1_2", 1.0), ("relu2_2", 1.0), ("relu3_3", 1.0), ("relu4_3", 1.0))
STYLE_LOSSES = ("gram", "mrf")

# CNNMRF's layers (MRF on relu3_1 and relu4_1, content relu4_2) plus relu2_1, and its 3 scales of
# 100 L-BFGS steps (`default_steps(n, "mrf")`). On this VGG-16 (the HED-tuned caffe weights) relu3_1
# and relu4_1 alone are matched by rainbow-coloured high-frequency texture that keeps neither the
# photo's layout nor the painting's palette (kodim05 <- starry night at 160 px, content weights
# 1-100); relu2_1 brings the painting's colours and strokes, and content ×30 keeps the riders.
# Checked against CNNMRF's cnnmrf.lua (issue #34): its pyramid (3 halving scales, both images at
# the render size, 384 px so 96 px coarsest; 100 steps each), 3×3 patches and style stride 2 are
# these; its content layer is relu4_1 (VGG-19 module 21, the MRF layer itself) where this keeps
# relu4_2 at 320 px and up (relu3_1 under: `default_config`), and its weights (content 20, MRF 1e-4
# a layer) are on another loss normalisation, so they do not carry over (BENCHMARKS.md, #34 item 8).
MRF_DEFAULTS: dict = dict(
    style_loss="mrf",
    content_layers=(("relu4_2", 1.0),),
    style_layers=(("relu2_1", 1.0), ("relu3_1", 1.0), ("relu4_1", 1.0)),
    content_weight=30.0,
    style_weight=1.0,
    tv_weight=1e2,
)


@dataclasses.dataclass(frozen=True)
class GatysConfig:
    """Everything that defines a Gatys run. Defaults are tuned for the bundled VGG-16 (caffe-hed).

    Layer weights are `(layer, weight)` pairs. `steps` is per scale (one int for every scale, or
    one per entry of `sizes`). `style_loss` "mrf" reads `style_layers`/`style_weight` as the MRF
    term's, with `mrf_patch`×`mrf_patch` patches and the style sampled every `mrf_stride` px of the
    layer; `MRF_DEFAULTS` holds its tuned settings. `max_evals` bounds the loss evaluations per
    scale (`styljax.optimization.optimize.OptimConfig`).
    """

    content_layers: tuple[tuple[str, float], ...] = (("relu3_3", 1.0),)
    style_layers: tuple[tuple[str, float], ...] = STYLE_LAYERS
    content_weight: float = 5.0
    style_weight: float = 100.0
    tv_weight: float = 1e2
    gram_norm: str = "chw"
    pooling: str = "max"
    optimizer: str = "lbfgs"  # or "adam"
    learning_rate: float = 0.02  # Adam, in [0, 1] pixel units
    lbfgs_memory: int = 10
    init: str = "content"  # "content", "style" or "noise"
    sizes: tuple[int, ...] = (256, 512)  # coarse-to-fine max sides
    steps: int | tuple[int, ...] = (200, 100)  # see default_steps
    style_scale: float = 1.0  # style images' max side relative to the current size
    style_blend: tuple[float, ...] | None = None  # one weight per style image; default equal
    color: str = "transfer"  # or "luminance" (keep the content's colours)
    seed: int = 0
    style_loss: str = "gram"  # or "mrf"
    mrf_patch: int = 3
    mrf_stride: int = 2
    max_evals: int | None = None

    def __post_init__(self):
        self.optim()  # checks the optimiser settings
        optimize.check_choices({
            "init": (self.init, ("content", "style", "noise")),
            "color": (self.color, ("transfer", "luminance")),
            "gram_norm": (self.gram_norm, feature_losses.GRAM_NORMS),
            "pooling": (self.pooling, ("max", "avg")),
            "style_loss": (self.style_loss, STYLE_LOSSES),
        })
        if self.style_loss == "mrf" and self.style_blend is not None:
            raise ValueError("style_blend weights Gram targets; the mrf style loss pools the styles' patches")
        if self.mrf_patch < 1 or self.mrf_stride < 1:
            raise ValueError(f"mrf_patch and mrf_stride must be >= 1, got {self.mrf_patch}, {self.mrf_stride}")
        if not self.sizes or min(self.sizes) < 16:
            raise ValueError(f"sizes must be a non-empty list of sides >= 16, got {self.sizes}")
        if not isinstance(self.steps, int) and len(self.steps) != len(self.sizes):
            raise ValueError(f"steps {self.steps} must be one int or one per size {self.sizes}")

    def optim(self) -> optimize.OptimConfig:
        """The optimiser settings of this run."""
        return optimize.OptimConfig(self.optimizer, self.learning_rate, self.lbfgs_memory, max_evals=self.max_evals)

    def steps_per_scale(self) -> tuple[int, ...]:
        return (self.steps,) * len(self.sizes) if isinstance(self.steps, int) else tuple(self.steps)

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for n, _ in self.content_layers + self.style_layers))


def _luminance_only(content: jax.Array, styles: Sequence[jax.Array]):
    """Grey (Y replicated) content and styles, each style's Y matched to the content's mean/std."""
    y_c = color.rgb_to_yuv(content)[..., 0]
    grey = lambda y: jnp.repeat(y[..., None], 3, axis=-1)
    out = []
    for s in styles:
        y_s = color.rgb_to_yuv(s)[..., 0]
        y_s = (y_s - y_s.mean()) / (y_s.std() + 1e-6) * y_c.std() + y_c.mean()
        out.append(grey(jnp.clip(y_s, 0.0, 1.0)))
    return grey(y_c), out


def make_loss(weights: VggWeights, cfg: GatysConfig):
    """The Gatys objective for `cfg`.

    Args:
        weights: the VGG loss network.
        cfg: layers, weights and the style loss ("gram" or "mrf").
    Returns:
        (targets_fn, loss_fn), both pure. targets_fn(params, content, styles, blend) -> targets
        pytree (content features; blended Grams, or for "mrf" the styles' pooled patches, `blend`
        unused). loss_fn(params, targets, x) -> (total, {"content", "style", "tv"}), x (H, W, 3).
    """
    extract = weights.extractor(cfg.layers, cfg.pooling)
    content_w, style_w = dict(cfg.content_layers), dict(cfg.style_layers)

    def style_targets(params, styles, blend):
        feats = [extract(params, s[None]) for s in styles]
        if cfg.style_loss == "mrf":
            return {l: mrf.targets([f[l][0] for f in feats], cfg.mrf_patch, cfg.mrf_stride) for l in style_w}
        return {l: sum(w * feature_losses.gram(f[l], cfg.gram_norm)[0] for f, w in zip(feats, blend)) for l in style_w}

    def targets_fn(params, content, styles, blend):
        feats = extract(params, content[None])
        return {"content": {l: feats[l] for l in content_w}, "style": style_targets(params, styles, blend)}

    def style_term(feats, targets):
        if cfg.style_loss == "mrf":
            return mrf.style_loss(feats, targets, style_w, cfg.mrf_patch)
        return feature_losses.style_loss(feats, targets, style_w, cfg.gram_norm)

    def loss_fn(params, targets, x):
        feats = extract(params, x[None])
        parts = {
            "content": cfg.content_weight * feature_losses.content_loss(feats, targets["content"], content_w),
            "style": cfg.style_weight * style_term(feats, targets["style"]),
            "tv": cfg.tv_weight * feature_losses.tv_loss(x[None]),
        }
        return parts["content"] + parts["style"] + parts["tv"], parts

    return targets_fn, loss_fn


def default_steps(n_scales: int, style_loss: str = "gram") -> tuple[int, ...]:
    """Gram: 200 steps on each coarse scale, 100 on the finest (300 when there is only one).
    MRF: 100 on every scale, as CNNMRF."""
    if style_loss == "mrf":
        return (100,) * n_scales
    return (200,) * (n_scales - 1) + ((100,) if n_scales > 1 else (300,))


def halving_sizes(size: int, n_scales: int) -> tuple[int, ...]:
    """Coarse-to-fine max sides ending at `size`, halving down (at least 16 px; duplicates drop)."""
    return tuple(dict.fromkeys(max(16, size // 2**k) for k in reversed(range(max(1, n_scales)))))


# The render side the defaults were tuned at (GatysConfig's weights; MRF_DEFAULTS). At and above it
# `default_config` gives those settings unchanged; below it the content weight grows.
REFERENCE_SIDE = 512
# How fast the content weight grows below REFERENCE_SIDE: weight x (REFERENCE_SIDE / size) ** power.
# A smaller render has fewer pixels per object, so the same style statistics (a texture's strokes
# are as many pixels wide at any size) cover more of each object and the loss trades more of the
# photo away: a bold texture at 160 px kept 0.27 structure with the 512 px weights (issue #34).
# MRF keeps its weight: its content layer moves instead (MRF_SMALL_CONTENT_LAYERS).
CONTENT_WEIGHT_POWER = {"gram": 1.0, "mrf": 0.0}
# MRF's content layer relu4_2 is a 1/8 map: 20 px at 160 px, too coarse to hold the photo's edges
# (kodim23 <- brick at 160 px kept 0.47 with the weight ×3.2, 0.92 from relu3_1). CNNMRF's content
# map is 48 px (relu4_1 at its 384 px); below MRF_DEEP_CONTENT_SIDE the 1/4 relu3_1 map is used.
MRF_DEEP_CONTENT_SIDE = 320
MRF_SMALL_CONTENT_LAYERS = (("relu3_1", 1.0),)
# The coarsest scale of a default pyramid: CNNMRF's own is 96 px (384 px over 3 scales). Under 64 px
# relu4_x maps are under 8 px, a few 3x3 patches; the coarse result is noise that the finer scales
# start from, so default pyramids stop above it.
MIN_SCALE_SIDE = 64


def default_config(size: int, style_loss: str = "gram", n_scales: int | None = None) -> GatysConfig:
    """The default settings to render at `size` px (max side), scale-aware.

    Gram: `GatysConfig()`'s; MRF: `MRF_DEFAULTS`. Both over `n_scales` halving scales (default 2 for
    Gram, 3 for MRF as CNNMRF; scales under MIN_SCALE_SIDE dropped unless `n_scales` is given) with
    `default_steps`; the Gram content weight × (REFERENCE_SIDE / size) ** CONTENT_WEIGHT_POWER below
    REFERENCE_SIDE, and MRF's content layer relu3_1 below MRF_DEEP_CONTENT_SIDE, so that small
    renders keep the photo as 512 px ones do.
    """
    if style_loss not in STYLE_LOSSES:
        raise ValueError(f"style_loss must be one of {STYLE_LOSSES}, got {style_loss!r}")
    base = GatysConfig() if style_loss == "gram" else dataclasses.replace(GatysConfig(), **MRF_DEFAULTS)
    sizes = halving_sizes(size, n_scales or (3 if style_loss == "mrf" else 2))
    if n_scales is None:
        sizes = tuple(s for s in sizes if s >= MIN_SCALE_SIDE) or sizes[-1:]
    grow = max(1.0, REFERENCE_SIDE / size) ** CONTENT_WEIGHT_POWER[style_loss]
    if style_loss == "mrf" and size < MRF_DEEP_CONTENT_SIDE:
        base = dataclasses.replace(base, content_layers=MRF_SMALL_CONTENT_LAYERS)
    return dataclasses.replace(base, sizes=sizes, steps=default_steps(len(sizes), style_loss),
                               content_weight=base.content_weight * grow)


def _fit(img: jax.Array, max_side: float) -> jax.Array:
    h, w = image_lib.fit_max_side(img.shape[0], img.shape[1], max(16, round(max_side)))
    return geometry.resize(img, (h, w))


def style_blend(cfg: GatysConfig, n_styles: int) -> np.ndarray:
    """The styles' blend weights (n_styles,), normalised to sum 1 (`cfg.style_blend`, else equal)."""
    if n_styles < 1:
        raise ValueError("need at least one style image")
    blend = np.asarray(cfg.style_blend if cfg.style_blend is not None else [1.0] * n_styles, np.float32)
    if blend.shape != (n_styles,) or blend.sum() <= 0 or (blend < 0).any():
        raise ValueError(f"style_blend needs {n_styles} non-negative weights, got {cfg.style_blend}")
    return blend / blend.sum()


def initial_image(content: jax.Array, style: jax.Array, cfg: GatysConfig) -> jax.Array:
    """The start of an optimisation at content's size, as `cfg.init` says: the content, the (first)
    style resized, or uniform noise from `cfg.seed`."""
    if cfg.init == "content":
        return content
    if cfg.init == "style":
        return geometry.resize(style, content.shape[:2])
    return jax.random.uniform(jax.random.key(cfg.seed), content.shape, jnp.float32)


def iterate(
    weights: VggWeights,
    content: np.ndarray | jax.Array,
    styles: Sequence[np.ndarray | jax.Array],
    cfg: GatysConfig = GatysConfig(),
    init_image: np.ndarray | jax.Array | None = None,
    every: int = 1,
) -> Iterator[Step]:
    """Run the optimisation, yielding a `styljax.optimization.optimize.Step` (its `scale` is the stage) every
    `every` steps and at the end of each scale. Inputs are float RGB [0, 1] (H, W, 3).

    `init_image` (e.g. a snapshot of an interrupted run) replaces `cfg.init` at the first scale.
    """
    blend = style_blend(cfg, len(styles))
    content = jnp.asarray(content, jnp.float32)
    styles = [jnp.asarray(s, jnp.float32) for s in styles]
    if cfg.color == "luminance":
        content, styles = _luminance_only(content, styles)

    targets_fn, loss_fn = make_loss(weights, cfg)
    targets_fn = jax.jit(targets_fn)
    loop = optimize.Loop(lambda x, aux: loss_fn(aux[0], aux[1], x), cfg.optim())
    params = weights.params

    x = None
    global_step = 0
    for scale, (size, n_steps) in enumerate(zip(cfg.sizes, cfg.steps_per_scale())):
        c = _fit(content, size)
        ss = [_fit(s, size * cfg.style_scale) for s in styles]
        targets = targets_fn(params, c, ss, blend)
        if x is None and init_image is not None:
            x = jnp.asarray(init_image, jnp.float32)
        x = initial_image(c, ss[0], cfg) if x is None else geometry.resize(x, c.shape[:2])
        for step in loop.run(x, (params, targets), n_steps, stage=scale, start=global_step, every=every):
            x, global_step = step.image, step.global_step
            yield step


def finish(x: jax.Array, content: np.ndarray | jax.Array, cfg: GatysConfig) -> np.ndarray:
    """The displayable result: clipped to [0, 1]; with `color="luminance"` the content's chroma."""
    x = jnp.clip(x, 0.0, 1.0)
    if cfg.color == "luminance":
        c = geometry.resize(jnp.asarray(content, jnp.float32), x.shape[:2])
        x = jnp.clip(color.preserve_colors(c, x), 0.0, 1.0)
    return np.asarray(x)


def stylize(weights, content, styles, cfg: GatysConfig = GatysConfig()) -> np.ndarray:
    """Run `iterate` to the end and return the finished image (H, W, 3) in [0, 1]."""
    last = None
    for last in iterate(weights, content, styles, cfg, every=1 << 30):
        pass
    if last is None:
        raise ValueError("no optimisation steps were requested")
    return finish(last.image, content, cfg)
