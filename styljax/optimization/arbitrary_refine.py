"""`styljax add-style --method arbitrary --refine`: the painting's 100-d style vector optimised
alone (the predictor and the transformer frozen), from the predictor's vector, so that the
transformer renders photos closer to the painting's Gram statistics than the one-shot prediction.

The objective is the style distance the project judges stylizations by
(`styljax.evaluation.metrics.StyleDistance`: Σ over VGG-16 relu1_2, relu2_2, relu3_3, relu4_3 of
mean((G − A)²) / mean(A²), the painting's Grams A taken at 384 px longer side), measured where a
user's render would be measured:

- each photo is resized to `render_side` px longer side (the size it would be stylized at) and a
  central `crop`² square of it is rendered, so brush strokes come out at the render's scale;
- the rendered crop is resized by 384 / `render_side` before VGG, as the distance resizes the
  whole render, so the crop's Grams are those of a patch of the measured image;
- the crops' Grams are averaged before the distance (one pooled Gram per layer, as if the crops
  were one image): the painting's Grams describe a whole image, and a distance per crop tuned
  the vector to each crop's content (on two Kodak photos it lowered the held-out distance by 13%
  on the mean, pooled 20%);
- plus `content_weight` × the relative relu4_2 feature distance to the photo crop (on the way to
  relu4_3: no extra VGG layers), which keeps the photo recognisable;

and the optimiser is Adam for a fixed number of steps (one value-and-gradient each, no line
search), keeping the best vector seen, so the cost is known in advance and the result never scores
worse than the start on this objective. The step is compiled once per (model config,
`RefineConfig`, photo count) and cached in memory (and on disk when the persistent compilation
cache is on).

The refinement's photos are the caller's: never the photos a benchmark holds out.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from styljax.evaluation import metrics
from styljax.nets import arbitrary as ar

CONTENT_LAYER = "relu4_2"
DEFAULT_PHOTOS = ("astronaut", "chelsea")  # scikit-image's: a person and an animal, in no benchmark's held-out set


@dataclasses.dataclass(frozen=True)
class RefineConfig:
    """The refinement's recipe (hashable: a static part of the compiled program).

    Attributes:
      steps: Adam steps (each one value-and-gradient evaluation of the objective).
      learning_rate: Adam's step size on the vector's coordinates.
      crop: side of the square rendered from each photo, px.
      render_side: the photos' longer side before the crop (the render size the style is tuned for).
      style_size: the longer side the distance measures the render at (`metrics.STYLE_SIZE`).
      style_layers: the distance's VGG layers (`metrics.STYLE_LAYERS`).
      content_weight: weight of the relative relu4_2 content term (0: style alone).
    """

    steps: int = 20
    learning_rate: float = 0.03
    crop: int = 160
    render_side: int = 512
    style_size: int = metrics.STYLE_SIZE
    style_layers: tuple[str, ...] = metrics.STYLE_LAYERS
    content_weight: float = 0.1

    def overriding(self, **given) -> RefineConfig:
        """This recipe with the fields in `given` that are not None (a command line's optional flags)."""
        return dataclasses.replace(self, **{k: v for k, v in given.items() if v is not None})

    @property
    def feature_side(self) -> int:
        """The rendered crop's side at the distance's scale (what VGG sees)."""
        return max(16, round(self.crop * self.style_size / self.render_side))


def default_photos() -> list[np.ndarray]:
    """The refinement's photos when the caller has none: scikit-image's `DEFAULT_PHOTOS`."""
    from styljax.io import samples

    return [np.asarray(samples.skimage_image(n), np.float32) for n in DEFAULT_PHOTOS]


def refine_photos(images: Sequence[np.ndarray], rcfg: RefineConfig = RefineConfig()) -> np.ndarray:
    """(N, crop, crop, 3): each image resized to `render_side` px longer side, its central square cropped."""
    from styljax.imaging import geometry
    from styljax.io import image

    out = []
    for img in images:
        img = np.asarray(img, np.float32)
        h, w = image.fit_max_side(*img.shape[:2], rcfg.render_side)
        if min(h, w) < rcfg.crop:  # a thin photo: its shorter side becomes the crop
            s = rcfg.crop / min(img.shape[:2])
            h, w = max(rcfg.crop, round(img.shape[0] * s)), max(rcfg.crop, round(img.shape[1] * s))
        img = np.asarray(geometry.resize(img, (h, w)))
        top, left = (h - rcfg.crop) // 2, (w - rcfg.crop) // 2
        out.append(img[top:top + rcfg.crop, left:left + rcfg.crop])
    return np.stack(out)


def painting_grams(vgg, painting: np.ndarray, rcfg: RefineConfig = RefineConfig()) -> dict:
    """The painting's Grams as `StyleDistance` computes them (its longer side at `style_size`)."""
    return metrics.StyleDistance(vgg, rcfg.style_layers, rcfg.style_size).grams(painting)


def _pooled_style(feats: Mapping, targets: Mapping, layers: Sequence[str]) -> jax.Array:
    """Σ_l mean((Ḡ_l − A_l)²) / mean(A_l²), the metric's relative Gram distance, of the crops' mean
    Gram Ḡ_l: the painting's Grams are whole-image statistics, which one crop's content need not
    match but the crops together should (per-crop distances over-fitted the crops' content)."""
    from styljax.losses import feature_losses

    total = 0.0
    for layer in layers:
        g, a = jnp.mean(feature_losses.gram(feats[layer], "chw"), axis=0), targets[layer]
        total = total + jnp.mean(jnp.square(g - a)) / jnp.maximum(jnp.mean(a * a), 1e-30)
    return total


@functools.lru_cache(maxsize=8)
def _program(cfg: ar.ArbitraryConfig, rcfg: RefineConfig, depth: int, convention):
    """(content, step), both jitted: `content(vgg params, photos)` the photos' relu4_2 features and
    their scale, once; `step(carry, params, vgg params, photos, targets, content)` one Adam step
    (one value-and-gradient), tracking the best vector and the first value. A Python loop over the
    one compiled step: the same steps in a `lax.fori_loop` ran slower on CPU."""
    import optax

    from styljax.nets import vgg as vgg_lib

    layers = tuple(dict.fromkeys((*rcfg.style_layers, CONTENT_LAYER)))
    extract = vgg_lib.VggWeights({}, depth, convention).extractor(layers)
    side = rcfg.feature_side
    opt = optax.adam(rcfg.learning_rate)

    def shrink(x):
        return jax.image.resize(x, (x.shape[0], side, side, 3), "linear", antialias=True)

    def content(vgg_params, photos):
        f = extract(vgg_params, shrink(photos))[CONTENT_LAYER]
        return f, jnp.maximum(jnp.mean(f * f), 1e-30)

    def objective(v, params, vgg_params, photos, targets, content):
        feats = extract(vgg_params, shrink(ar.transform(params, photos, v, cfg)))
        style = _pooled_style(feats, targets, rcfg.style_layers)
        cont = jnp.mean(jnp.square(feats[CONTENT_LAYER] - content[0])) / content[1]
        return style + rcfg.content_weight * cont, (style, cont)

    grad_fn = jax.value_and_grad(objective, has_aux=True)

    def step(carry, *args):
        v, state, best_v, best, first = carry
        (value, parts), g = grad_fn(v, *args)
        now = (value, *parts)
        first = jax.tree.map(lambda new, old: jnp.where(jnp.isinf(old), new, old), now, first)
        better = value < best[0]
        best_v = jnp.where(better, v, best_v)
        best = jax.tree.map(lambda new, old: jnp.where(better, new, old), now, best)
        updates, state = opt.update(g, state, v)
        return optax.apply_updates(v, updates), state, best_v, best, first

    def init(v0):
        inf = jnp.asarray(jnp.inf, jnp.float32)
        return v0, opt.init(v0), v0, (inf, inf, inf), (inf, inf, inf)

    return jax.jit(content), jax.jit(step), init


def refine_vector(params: Mapping, cfg: ar.ArbitraryConfig, vector, photos, painting, vgg,
                  rcfg: RefineConfig = RefineConfig()) -> tuple[np.ndarray, dict]:
    """(refined vector (D,), info): `vector` (the predictor's vector of `painting`) optimised alone.

    Args:
      params: the model's params (predictor, transformer, style maps).
      cfg: its `ArbitraryConfig`.
      vector: the start, (D,).
      photos: (N, crop, crop, 3) crops at render scale (`refine_photos`).
      painting: the style image (H, W, 3) in [0, 1], or its `painting_grams`.
      vgg: the loss network (`styljax.nets.vgg.VggWeights`).
      rcfg: the recipe.

    info: "loss_before"/"loss_after" (the objective at the start and at the result),
    "style_before"/"style_after" (its style distance part, of the crops' pooled Grams), "evaluations"
    (value-and-gradient evaluations: `rcfg.steps`).
    """
    from styljax.nets import vgg as vgg_lib

    photos = jnp.asarray(photos, jnp.float32)
    if photos.ndim != 4 or photos.shape[1:3] != (rcfg.crop, rcfg.crop):
        raise ValueError(f"photos must be (N, {rcfg.crop}, {rcfg.crop}, 3) crops (refine_photos), got {photos.shape}")
    targets = painting if isinstance(painting, Mapping) else painting_grams(vgg, painting, rcfg)
    targets = {l: jnp.asarray(targets[l], jnp.float32) for l in rcfg.style_layers}
    content_fn, step, init = _program(cfg, rcfg, vgg.depth, vgg.convention)
    vgg_params = vgg_lib.with_transposed_kernels(vgg.params)
    content = content_fn(vgg_params, photos)
    carry = init(jnp.asarray(vector, jnp.float32))
    for _ in range(rcfg.steps):
        carry = step(carry, params, vgg_params, photos, targets, content)
    _, _, v, best, first = carry
    return np.asarray(v), {"loss_before": float(first[0]), "loss_after": float(best[0]),
                           "style_before": float(first[1]), "style_after": float(best[1]),
                           "content_after": float(best[2]), "evaluations": rcfg.steps}
