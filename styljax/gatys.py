"""Gatys et al. (2016) style transfer by optimising the image.

    x* = argmin_x  α Σ_l w_l ‖F_l(x) − F_l(c)‖²  +  β Σ_l v_l d(G_l(x), Σ_i s_i G_l(y_i))  +  γ TV(x)

with F the VGG features, G their Gram matrices (normalisation from `styljax.losses`), c the
content image, y_i the style images blended with weights s_i (as neural-style's
`-style_blend_weights`). Optimised with L-BFGS (`optax.lbfgs` + zoom line search, one jitted step)
or Adam, coarse-to-fine over `sizes`, from the content, a style or noise.

`iterate` yields one `Step` per optimiser step so programs can draw progress bars and write
snapshots; `stylize` runs it to the end. Colour preservation (`color="luminance"`) is Gatys et al.
2017's luminance-only transfer: optimise on luminance (style luminance matched to the content's
mean/std), then put the content's chrominance back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from styljax import image as image_lib
from styljax import losses
from styljax.vgg import VggWeights


# relu1_2…relu4_3, equal weights: the style layers tuned for the bundled VGG-16 (also DPST's default)
STYLE_LAYERS: tuple[tuple[str, float], ...] = (("relu1_2", 1.0), ("relu2_2", 1.0), ("relu3_3", 1.0), ("relu4_3", 1.0))


@dataclasses.dataclass(frozen=True)
class GatysConfig:
    """Everything that defines a Gatys run. Defaults are tuned for the bundled VGG-16 (caffe-hed).

    Layer weights are `(layer, weight)` pairs. `steps` is per scale (one int for every scale, or
    one per entry of `sizes`).
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

    def __post_init__(self):
        checks = {
            "optimizer": (self.optimizer, ("lbfgs", "adam")),
            "init": (self.init, ("content", "style", "noise")),
            "color": (self.color, ("transfer", "luminance")),
            "gram_norm": (self.gram_norm, losses.GRAM_NORMS),
            "pooling": (self.pooling, ("max", "avg")),
        }
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if not self.sizes or min(self.sizes) < 16:
            raise ValueError(f"sizes must be a non-empty list of sides >= 16, got {self.sizes}")
        if not isinstance(self.steps, int) and len(self.steps) != len(self.sizes):
            raise ValueError(f"steps {self.steps} must be one int or one per size {self.sizes}")

    def steps_per_scale(self) -> tuple[int, ...]:
        return (self.steps,) * len(self.sizes) if isinstance(self.steps, int) else tuple(self.steps)

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for n, _ in self.content_layers + self.style_layers))


@dataclasses.dataclass
class Step:
    """One optimiser step: scale index, step within the scale, global step, current image, loss."""

    scale: int
    step: int
    global_step: int
    image: jax.Array  # (H, W, 3), unclipped
    loss: float
    parts_fn: Callable[[], dict[str, float]]

    def parts(self) -> dict[str, float]:
        """Content, style and TV terms (weighted) and the total, computed on demand."""
        return self.parts_fn()


def _luminance_only(content: jax.Array, styles: Sequence[jax.Array]):
    """Grey (Y replicated) content and styles, each style's Y matched to the content's mean/std."""
    y_c = image_lib.rgb_to_yuv(content)[..., 0]
    grey = lambda y: jnp.repeat(y[..., None], 3, axis=-1)
    out = []
    for s in styles:
        y_s = image_lib.rgb_to_yuv(s)[..., 0]
        y_s = (y_s - y_s.mean()) / (y_s.std() + 1e-6) * y_c.std() + y_c.mean()
        out.append(grey(jnp.clip(y_s, 0.0, 1.0)))
    return grey(y_c), out


def make_loss(weights: VggWeights, cfg: GatysConfig):
    """Returns (targets_fn, loss_fn), both pure.

    targets_fn(params, content, styles, blend) -> targets pytree (content features, blended Grams).
    loss_fn(params, targets, x) -> (total, {"content", "style", "tv"}), x (H, W, 3).
    """
    extract = weights.extractor(cfg.layers, cfg.pooling)
    content_w, style_w = dict(cfg.content_layers), dict(cfg.style_layers)

    def targets_fn(params, content, styles, blend):
        feats = extract(params, content[None])
        targets = {"content": {l: feats[l] for l in content_w}, "style": {}}
        for l in style_w:
            targets["style"][l] = 0.0
        for s, w in zip(styles, blend):
            sf = extract(params, s[None])
            for l in style_w:
                targets["style"][l] = targets["style"][l] + w * losses.gram(sf[l], cfg.gram_norm)[0]
        return targets

    def loss_fn(params, targets, x):
        feats = extract(params, x[None])
        parts = {
            "content": cfg.content_weight * losses.content_loss(feats, targets["content"], content_w),
            "style": cfg.style_weight * losses.style_loss(feats, targets["style"], style_w, cfg.gram_norm),
            "tv": cfg.tv_weight * losses.tv_loss(x[None]),
        }
        return parts["content"] + parts["style"] + parts["tv"], parts

    return targets_fn, loss_fn


def _make_optimizer(cfg: GatysConfig) -> optax.GradientTransformation:
    if cfg.optimizer == "lbfgs":
        return optax.lbfgs(memory_size=cfg.lbfgs_memory)
    return optax.adam(cfg.learning_rate)


def make_step(loss_fn, cfg: GatysConfig):
    """One pure jitted optimiser step: (params, targets, x, opt_state) -> (x, opt_state, loss)."""
    opt = _make_optimizer(cfg)

    @jax.jit
    def step(params, targets, x, opt_state):
        value_fn = lambda y: loss_fn(params, targets, y)[0]
        if cfg.optimizer == "lbfgs":
            value, grad = optax.value_and_grad_from_state(value_fn)(x, state=opt_state)
            updates, opt_state = opt.update(
                grad, opt_state, x, value=value, grad=grad, value_fn=value_fn
            )
            x = optax.apply_updates(x, updates)
        else:
            value, grad = jax.value_and_grad(value_fn)(x)
            updates, opt_state = opt.update(grad, opt_state, x)
            x = jnp.clip(optax.apply_updates(x, updates), 0.0, 1.0)  # projected Adam
        return x, opt_state, value

    return opt, step


def default_steps(n_scales: int) -> tuple[int, ...]:
    """200 steps on each coarse scale, 100 on the finest (300 when there is only one)."""
    return (200,) * (n_scales - 1) + ((100,) if n_scales > 1 else (300,))


def _fit(img: jax.Array, max_side: float) -> jax.Array:
    h, w = image_lib.fit_max_side(img.shape[0], img.shape[1], max(16, round(max_side)))
    return image_lib.resize(img, (h, w))


def iterate(
    weights: VggWeights,
    content: np.ndarray | jax.Array,
    styles: Sequence[np.ndarray | jax.Array],
    cfg: GatysConfig = GatysConfig(),
    init_image: np.ndarray | jax.Array | None = None,
) -> Iterator[Step]:
    """Run the optimisation, yielding after every step. Inputs are float RGB [0, 1] (H, W, 3).

    `init_image` (e.g. a snapshot of an interrupted run) replaces `cfg.init` at the first scale.
    """
    if not styles:
        raise ValueError("need at least one style image")
    blend = np.asarray(cfg.style_blend if cfg.style_blend is not None else [1.0] * len(styles), np.float32)
    if blend.shape != (len(styles),) or blend.sum() <= 0 or (blend < 0).any():
        raise ValueError(f"style_blend needs {len(styles)} non-negative weights, got {cfg.style_blend}")
    blend = blend / blend.sum()
    content = jnp.asarray(content, jnp.float32)
    styles = [jnp.asarray(s, jnp.float32) for s in styles]
    if cfg.color == "luminance":
        content, styles = _luminance_only(content, styles)

    targets_fn, loss_fn = make_loss(weights, cfg)
    targets_fn = jax.jit(targets_fn)
    parts_fn = jax.jit(lambda p, t, x: loss_fn(p, t, x)[1])
    opt, step = make_step(loss_fn, cfg)
    params = weights.params

    x = None
    global_step = 0
    for scale, (size, n_steps) in enumerate(zip(cfg.sizes, cfg.steps_per_scale())):
        c = _fit(content, size)
        ss = [_fit(s, size * cfg.style_scale) for s in styles]
        targets = targets_fn(params, c, ss, blend)
        if x is None and init_image is not None:
            x = jnp.asarray(init_image, jnp.float32)
        if x is not None:
            x = image_lib.resize(x, c.shape[:2])
        elif cfg.init == "content":
            x = c
        elif cfg.init == "style":
            x = image_lib.resize(ss[0], c.shape[:2])
        else:
            x = jax.random.uniform(jax.random.key(cfg.seed), c.shape, jnp.float32)
        opt_state = opt.init(x)
        for i in range(n_steps):
            x, opt_state, value = step(params, targets, x, opt_state)
            global_step += 1
            yield Step(
                scale, i, global_step, x, float(value),
                partial(lambda t, y: {k: float(v) for k, v in parts_fn(params, t, y).items()}, targets, x),
            )


def finish(x: jax.Array, content: np.ndarray | jax.Array, cfg: GatysConfig) -> np.ndarray:
    """The displayable result: clipped to [0, 1]; with `color="luminance"` the content's chroma."""
    x = jnp.clip(x, 0.0, 1.0)
    if cfg.color == "luminance":
        c = image_lib.resize(jnp.asarray(content, jnp.float32), x.shape[:2])
        x = jnp.clip(image_lib.preserve_colors(c, x), 0.0, 1.0)
    return np.asarray(x)


def stylize(weights, content, styles, cfg: GatysConfig = GatysConfig()) -> np.ndarray:
    """Run `iterate` to the end and return the finished image (H, W, 3) in [0, 1]."""
    last = None
    for last in iterate(weights, content, styles, cfg):
        pass
    if last is None:
        raise ValueError("no optimisation steps were requested")
    return finish(last.image, content, cfg)
