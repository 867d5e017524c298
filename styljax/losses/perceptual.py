"""The perceptual objective every feed-forward method trains on (StyleBank, CIN, Johnson).

    L(O; I, s) = α Σ_l w_l ‖F_l(O) − F_l(I)‖²  +  β Σ_l v_l d(G_l(O), G_l(S_s))  +  γ TV(O)

for a stylized batch O of content crops I, each image j with its own style s_j. `PerceptualLoss`
holds the layers, weights and Gram normalisation (explicit, so that weights mean something, see
`styljax.losses.feature_losses`); `style_targets` computes the style images' Grams once; `perceptual_loss` is the
pure per-step loss; `round_robin_styles` assigns styles to the images of a batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from styljax.io import image as image_lib
from styljax.imaging import geometry
from styljax.losses import feature_losses
from styljax.nets import vgg as vgg_lib
from styljax.nets.vgg import VggWeights


@dataclasses.dataclass(frozen=True)
class PerceptualLoss:
    """Perceptual loss configuration (explicit VGG layers, Gram normalisation and weights)."""

    content_layers: tuple[tuple[str, float], ...] = (("relu4_2", 1.0),)  # StyleBank paper
    # The StyleBank paper's layers. Per-layer weights balance the layers' Gram distances: with the
    # bundled HED VGG-16 and "chw" Grams, an unstyled Kodak photo's distance to the six paintings
    # has median 1564 (relu1_2), 4.48 (relu2_2), 0.299 (relu3_2), 9.3e-4 (relu4_2); with equal
    # weights the loss is relu1_2 alone (colour statistics) and the net learns no texture.
    style_layers: tuple[tuple[str, float], ...] = (
        ("relu1_2", 1.0), ("relu2_2", 350.0), ("relu3_2", 5e3), ("relu4_2", 1.5e6),
    )
    # Balance of the terms: an unstyled photo scores ~6000 on the balanced style loss, a trained
    # net ~50-300 on content (relu4_2 MSE); β = 1 lets style lead by ~10x, as in Johnson-style
    # training. β = 10 (style ~1000x content) gave blob artefacts and lost the content.
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 10.0
    gram_norm: str = "chw"
    style_size: int = 256  # style images' max side when computing their Gram targets

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for n, _ in self.content_layers + self.style_layers))

    @classmethod
    def from_json(cls, d: dict) -> PerceptualLoss:
        """Inverse of `dataclasses.asdict` after a JSON round trip (layer lists back to tuples)."""
        layer_keys = ("content_layers", "style_layers")
        return cls(**{k: tuple((str(n), float(w)) for n, w in v) if k in layer_keys else v for k, v in d.items()})


def style_targets(vgg: VggWeights, loss: PerceptualLoss, style_images: Mapping[str, np.ndarray]) -> dict:
    """{"vgg": params, "grams": {layer: (K, C, C)}}, the Grams of the K style images in order,
    each resized to `loss.style_size` max side first; the params carry their transposed kernels
    (`vgg.with_transposed_kernels`), which the per-step input gradient would otherwise rebuild."""
    extract = jax.jit(vgg.extractor(loss.layers))
    grams = {l: [] for l, _ in loss.style_layers}
    for s in style_images.values():
        s = geometry.resize(s, image_lib.fit_max_side(*s.shape[:2], loss.style_size))
        feats = extract(vgg.params, s[None])
        for l in grams:
            grams[l].append(feature_losses.gram(feats[l], loss.gram_norm)[0])
    return {"vgg": vgg_lib.with_transposed_kernels(vgg.params), "grams": {l: jnp.stack(g) for l, g in grams.items()}}


def round_robin_styles(step: jax.Array, batch_size: int, pool: Sequence[int]) -> jax.Array:
    """Style index of each image of the batch at `step`: image j gets pool[(step·B + j) mod |pool|],
    so with B ≥ |pool| every style in `pool` trains at every step, and always within ⌈|pool|/B⌉."""
    pool = jnp.asarray(pool, jnp.int32)
    return pool[(step * batch_size + jnp.arange(batch_size)) % pool.shape[0]]


def perceptual_loss(
    extract: Callable, loss: PerceptualLoss, consts: dict, out: jax.Array, images: jax.Array, ids: jax.Array
) -> tuple[jax.Array, dict]:
    """(total, {"content", "style", "tv"}) for stylized `out` of content `images`, image j
    against style `ids[j]`'s Grams. The content images go through VGG in a pass of their own, under
    `stop_gradient`: in one pass over [out; images] the backward pass ran over both halves."""
    f_out = extract(consts["vgg"], out)
    f_in = jax.lax.stop_gradient(extract(consts["vgg"], images))
    targets = {l: consts["grams"][l][ids] for l, _ in loss.style_layers}
    # consts["style_on"] (K,), if present: 0 for a style trained on the content terms alone
    on = consts["style_on"][ids] if "style_on" in consts else None
    parts = {
        "content": loss.content_weight * feature_losses.content_loss(f_out, f_in, dict(loss.content_layers)),
        "style": loss.style_weight * feature_losses.style_loss(f_out, targets, dict(loss.style_layers), loss.gram_norm, on),
        "tv": loss.tv_weight * feature_losses.tv_loss(out),
    }
    return parts["content"] + parts["style"] + parts["tv"], parts


def vgg_meta(vgg: VggWeights) -> dict:
    """The loss network's facts recorded in every model's manifest."""
    return {"depth": vgg.depth, "convention": vgg.convention.name, "source": vgg.source}


def jsonable(x):
    """A config tree (dataclasses already `asdict`-ed) with every leaf JSON-able (str() otherwise)."""
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (int, float, str, bool)) or x is None:
        return x
    return str(x)
