"""Arbitrary style transfer (Ghiasi et al. 2017, Magenta's `arbitrary_image_stylization`) on
Magenta's published weights: any painting, no training.

Two nets, both pure functions of (params, images):

- `StylePredictor`: a MobileNetV2 (width 1.0, ReLU6, TF "SAME" padding: a stride-2 conv on an
  even side pads bottom/right only) over a 256×256 crop of the painting, global mean, a 1×1 conv
  1280 → 100: the **style vector** (`predict_style`).
- `ArbitraryTransformNet`: Magenta's `nza_model.transform` at width ×0.25, fully convolutional at
  any size and batch:

  =============  =================================================================================
  contract       9×9 3→8, 3×3/2 8→16, 3×3/2 16→32 (batch norm folded into the bias), ReLU
  residual1…5    x + CIN(conv3×3(ReLU(CIN(conv3×3(x)))))   (32 channels)
  expand         nearest ×2 + 3×3 32→16, CIN, ReLU; nearest ×2 + 3×3 16→8, CIN, ReLU;
                 9×9 8→3, CIN, sigmoid
  =============  =================================================================================

  Reflect padding throughout. Each of the 13 conditional instance norms takes its γ and β from
  two 1×1 convs (dense layers) on the style vector (`style_norms`), so a style is 100 floats, and
  mixing styles is interpolating vectors. Per-region styles reuse
  `styljax.nets.transform.conditional_instance_norm` (γ/β per region, mixed per pixel).

Style strength is Magenta's: the vector interpolated toward the photo's own style vector
(`toward_own`), s·v + (1 − s)·P(photo).

Params: {"predictor": ..., "transformer": the convs, "style_maps": {layer: {"gamma", "beta"}}},
converted once from the ONNX graphs by
`styljax.io.magenta` (`styljax weights fetch`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from styljax.nets.layers import ReflectConv, crop_hw
from styljax.nets.stylebank import pad_to_multiple
from styljax.nets.transform import conditional_instance_norm

# (expansion t, output channels, stride) of MobileNetV2's 17 inverted-residual blocks
MOBILENET_V2_BLOCKS = (
    (1, 16, 1),
    (6, 24, 2), (6, 24, 1),
    (6, 32, 2), (6, 32, 1), (6, 32, 1),
    (6, 64, 2), (6, 64, 1), (6, 64, 1), (6, 64, 1),
    (6, 96, 1), (6, 96, 1), (6, 96, 1),
    (6, 160, 2), (6, 160, 1), (6, 160, 1),
    (6, 320, 1),
)  # fmt: skip
RESIDUAL_BLOCKS = 5
CIN_LAYERS = tuple(f"residual{i}_{j}" for i in range(1, RESIDUAL_BLOCKS + 1) for j in (1, 2)) + (
    "expand1", "expand2", "expand3")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ArbitraryConfig:
    """Architecture facts of the arbitrary-style model (hashable: a static jit argument).

    Attributes:
      style_dim: length of the style vector.
      style_size: side of the square the painting is cropped and resized to for the predictor.
      alpha: the transformer's width multiplier (its widths are 32·α, 64·α, 128·α).
      eps: the instance norms' epsilon (the graph's own constant).
      dtype: computation dtype (params and norm statistics stay float32).
    """

    style_dim: int = 100
    style_size: int = 256
    alpha: float = 0.25
    eps: float = 1e-5
    dtype: Any = jnp.float32

    def __post_init__(self):
        object.__setattr__(self, "dtype", jnp.dtype(self.dtype).type)

    @property
    def widths(self) -> tuple[int, int, int]:
        return tuple(int(self.alpha * c) for c in (32, 64, 128))

    def norm_channels(self) -> dict[str, int]:
        """{CIN layer: channels}, in network order."""
        c1, c2, c3 = self.widths
        out = {f"residual{i}_{j}": c3 for i in range(1, RESIDUAL_BLOCKS + 1) for j in (1, 2)}
        out.update(expand1=c2, expand2=c1, expand3=3)
        return out


# ------------------------------------------------------------------------------ style predictor


class StylePredictor(nn.Module):
    """(B, S, S, 3) RGB in [0, 1] → (B, style_dim) style vectors (MobileNetV2 + 1×1 bottleneck)."""

    cfg: ArbitraryConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dt = self.cfg.dtype

        def conv(y, name, features, kernel=1, stride=1, groups=1, relu6=True):
            y = nn.Conv(features, (kernel, kernel), (stride, stride), "SAME", feature_group_count=groups,
                        dtype=dt, name=name)(y)
            return jnp.clip(y, 0.0, 6.0) if relu6 else y

        y = conv(x.astype(dt), "stem", 32, 3, 2)
        for i, (t, c, s) in enumerate(MOBILENET_V2_BLOCKS):
            y = _Block(t, c, s, dt, name=f"block{i}")(y)
        y = conv(y, "head", 1280)
        y = jnp.mean(y.astype(jnp.float32), axis=(1, 2), keepdims=True).astype(dt)
        y = conv(y, "bottleneck", self.cfg.style_dim, relu6=False)
        return jnp.squeeze(y, (1, 2)).astype(jnp.float32)  # not y[:, 0, 0]: a gather under a symbolic batch


class _Block(nn.Module):
    """MobileNetV2 inverted residual: [1×1 expand, ReLU6], 3×3 depthwise (stride), ReLU6, 1×1 project (+ x)."""

    expansion: int
    features: int
    stride: int
    dtype: Any

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c_in = x.shape[-1]
        y = x
        if self.expansion != 1:
            y = jnp.clip(nn.Conv(c_in * self.expansion, (1, 1), dtype=self.dtype, name="expand")(y), 0.0, 6.0)
        c = y.shape[-1]
        y = nn.Conv(c, (3, 3), (self.stride, self.stride), "SAME", feature_group_count=c, dtype=self.dtype,
                    name="depthwise")(y)
        y = nn.Conv(self.features, (1, 1), dtype=self.dtype, name="project")(jnp.clip(y, 0.0, 6.0))
        return x + y if self.stride == 1 and c_in == self.features else y


# --------------------------------------------------------------------------------- transformer


def style_norms(style_maps: Mapping, vectors: jax.Array) -> dict:
    """{CIN layer: {"scale": γ, "bias": β}} from style vectors (..., D): γ, β (..., C) by each
    layer's two dense maps (Magenta's 1×1 convs on the style vector; `params["style_maps"]`).
    Applied once per style, outside the image path."""
    v = jnp.asarray(vectors, jnp.float32)
    return {layer: {"scale": v @ m["gamma"]["kernel"] + m["gamma"]["bias"],
                    "bias": v @ m["beta"]["kernel"] + m["beta"]["bias"]} for layer, m in style_maps.items()}


class ArbitraryTransformNet(nn.Module):
    """RGB [0, 1] (B, H, W, 3) with H, W multiples of 4 → stylized (B, H, W, 3), given the CIN
    layers' γ/β (`style_norms`: (C,) leaves, (B, C) per image, or (R, C) / (B, R, C) with `masks`)."""

    cfg: ArbitraryConfig

    @nn.compact
    def __call__(self, x: jax.Array, norms: Mapping[str, Any], masks: jax.Array | None = None) -> jax.Array:
        cfg, dt = self.cfg, self.cfg.dtype
        c1, c2, c3 = cfg.widths
        def conv(y, name, features, kernel, stride=1, upsample=False):
            return ReflectConv(features, kernel, stride, use_bias=True, dtype=dt, name=name, upsample=upsample)(y)

        def cin(y, name, relu=True):
            y = conditional_instance_norm(y, norms[name], masks, eps=cfg.eps)
            return nn.relu(y) if relu else y

        y = nn.relu(conv(x.astype(dt), "contract1", c1, 9))
        y = nn.relu(conv(y, "contract2", c2, 3, 2))
        y = nn.relu(conv(y, "contract3", c3, 3, 2))
        for i in range(1, RESIDUAL_BLOCKS + 1):
            h = cin(conv(y, f"residual{i}_1", c3, 3), f"residual{i}_1")
            y = y + cin(conv(h, f"residual{i}_2", c3, 3), f"residual{i}_2", relu=False)
        y = cin(conv(y, "expand1", c2, 3, upsample=True), "expand1")
        y = cin(conv(y, "expand2", c1, 3, upsample=True), "expand2")
        y = cin(conv(y, "expand3", 3, 9), "expand3", relu=False)
        return jax.nn.sigmoid(y.astype(jnp.float32))


# ------------------------------------------------------------------------------------ forward


def style_input(painting: jax.Array, cfg: ArbitraryConfig) -> jax.Array:
    """(H, W, 3) or (B, H, W, 3) in [0, 1] → the predictor's input: the central square, resized to
    `style_size` (Magenta's and the peer's preprocessing)."""
    x = jnp.asarray(painting, jnp.float32)
    h, w = x.shape[-3:-1]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    x = x[..., top : top + side, left : left + side, :]
    shape = x.shape[:-3] + (cfg.style_size, cfg.style_size, 3)
    if shape != x.shape:
        x = jnp.clip(jax.image.resize(x, shape, "lanczos3", antialias=True), 0.0, 1.0)
    return x


@functools.partial(jax.jit, static_argnames=("cfg",))
def predict_style(params: Mapping, images: jax.Array, cfg: ArbitraryConfig) -> jax.Array:
    """Style vectors (B, D) of (B, H, W, 3) images in [0, 1] (any size: `style_input` first)."""
    return StylePredictor(cfg).apply({"params": params["predictor"]}, style_input(images, cfg))


def toward_own(vectors: jax.Array, own: jax.Array, strength, per_image: bool = False) -> jax.Array:
    """s·v + (1 − s)·own: Magenta's style strength, toward each photo's own style vector.

    `vectors` (D,) or (R, D) (regions) shared by the batch, or with `per_image` (B, D) / (B, R, D);
    `own` (B, D); `strength` a scalar or (B,). Returns per image: (B, D) or (B, R, D)."""
    s = jnp.asarray(strength, jnp.float32)
    v = jnp.asarray(vectors, jnp.float32)
    b = own.shape[0]
    if not per_image:
        v = jnp.broadcast_to(v, (b,) + v.shape)
    s = jnp.broadcast_to(s, (b,)).reshape((b,) + (1,) * (v.ndim - 1))
    own = own.reshape((b,) + (1,) * (v.ndim - 2) + own.shape[-1:])
    return s * v + (1.0 - s) * own


@functools.partial(jax.jit, static_argnames=("cfg", "clip"))
def transform(params: Mapping, images: jax.Array, vectors: jax.Array, cfg: ArbitraryConfig,
              masks: jax.Array | None = None, clip: bool = False) -> jax.Array:
    """Stylize (B, H, W, 3) (any H, W ≥ 4: reflect-padded to multiples of 4, cropped back) with
    style vectors (D,) (one style), (B, D) (each image its own), or with region `masks` (B, R, H, W)
    (R, D) / (B, R, D); output (B, H, W, 3) float32."""
    h, w = images.shape[1:3]
    if masks is not None:
        masks = jnp.moveaxis(pad_to_multiple(jnp.moveaxis(masks, 1, -1)), -1, 1)
    norms = style_norms(params["style_maps"], vectors)
    out = ArbitraryTransformNet(cfg).apply({"params": params["transformer"]}, pad_to_multiple(images), norms, masks)
    out = crop_hw(out, h, w)  # a static slice, also for symbolic sizes (`styljax export`)
    return jnp.clip(out, 0.0, 1.0) if clip else out


def stylize(params: Mapping, images: jax.Array, vectors: jax.Array, cfg: ArbitraryConfig, *,
            masks: jax.Array | None = None, strength=None, clip: bool = True) -> jax.Array:
    """`transform`, with `strength` (None = 1, a scalar or (B,)) toward each photo's own vector."""
    if strength is not None:
        per_image = jnp.ndim(vectors) == (3 if masks is not None else 2)
        vectors = toward_own(vectors, predict_style(params, images, cfg), strength, per_image)
    return transform(params, images, vectors, cfg, masks, clip)


def init(key: jax.Array, cfg: ArbitraryConfig) -> dict:
    """Random params of the arbitrary-style model's layout (tests and benchmarks; the real ones
    come from `styljax weights fetch`): γ maps biased to 1, so a zero vector is plain IN."""
    k1, k2, k3 = jax.random.split(key, 3)
    predictor = StylePredictor(cfg).init(k1, jnp.zeros((1, cfg.style_size, cfg.style_size, 3)))["params"]
    maps = {}
    for i, (layer, c) in enumerate(cfg.norm_channels().items()):
        kg, kb = jax.random.split(jax.random.fold_in(k2, i))
        maps[layer] = {"gamma": {"kernel": 0.1 * jax.random.normal(kg, (cfg.style_dim, c)), "bias": jnp.ones(c)},
                       "beta": {"kernel": 0.1 * jax.random.normal(kb, (cfg.style_dim, c)), "bias": jnp.zeros(c)}}
    norms = style_norms(maps, jnp.zeros(cfg.style_dim))
    net = ArbitraryTransformNet(cfg).init(k3, jnp.zeros((1, 16, 16, 3)), norms)["params"]
    return {"predictor": predictor, "transformer": net, "style_maps": maps}


def mix(vectors: jax.Array, weights) -> jax.Array:
    """Σᵢ wᵢ vᵢ / Σᵢ wᵢ: a mix of style vectors (K, D) by weights (K,)."""
    w = jnp.asarray(weights, jnp.float32)
    return jnp.tensordot(w / w.sum(), jnp.asarray(vectors, jnp.float32), axes=1)


__all__ = [
    "ArbitraryConfig",
    "ArbitraryTransformNet",
    "CIN_LAYERS",
    "init",
    "StylePredictor",
    "mix",
    "predict_style",
    "style_input",
    "style_norms",
    "stylize",
    "toward_own",
    "transform",
]
