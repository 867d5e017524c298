"""Image transform nets: Johnson et al. (ECCV'16) and conditional instance norm (Dumoulin et al., ICLR'17).

One architecture, `c9s1-32, d64, d128, R128×5, u64, u32, c9s1-3` (Johnson's string; Magenta's
`model.py` is the same net), every conv reflection-padded (`ReflectConv`):

=============  ====================================================================================
conv1          9×9 s1 3→32, norm, ReLU
conv2, conv3   3×3 s2 32→64, 64→128, norm, ReLU
res1…res5      x + norm(conv3×3(ReLU(norm(conv3×3(x)))))   (128 channels, two norms each: a, b)
up1, up2       nearest ×2 + 3×3 conv 128→64, 64→32, norm, ReLU
out            9×9 32→3 [+ norm], then the output head
=============  ====================================================================================

Every norm is an instance norm whose affine γ, β are *inputs*, not module params:

    y = γ · (x − μ(x)) / sqrt(σ²(x) + ε) + β,      μ, σ² per image and channel.

So the params split into the convolutions, shared by all styles, and one small subtree of γ/β per
style (`init_style`; 2·ΣC floats, 3,206 for the default CIN net ≈ 12.5 KiB):

    {"net": {conv params}, "styles": {"<style>": {"conv1": {"scale", "bias"}, ..., "out": ...}}}

- **CIN** (`TransformConfig.cin()`): Magenta's net, conditional IN on every conv including the
  output one, then a sigmoid. A new style trains only its γ/β; styles mix by weighted γ/β
  (`mix_styles`: γ = Σ wᵢγᵢ, β = Σ wᵢβᵢ, weights not renormalised, as Magenta's
  `weighted_instance_norm`) or per region (`stylize(..., masks=)`: γ(x) = Σ_r m_r(x) γ_r).
- **Johnson** (`TransformConfig.johnson()`): the same net with one style, no norm on the output
  conv, output = caffe mean + 150/255 · tanh(·) (the repo's `-tanh_constant 150` in the caffe
  0-255 space, here on [0, 1] RGB). The net and its single γ/β train together.

Style strength s ∈ [0, 1] (`strength=` of `stylize`, `stylize_with`, `render_all`): γ/β
interpolated toward the model's reserved `identity` style when it has one (`toward`), else the
output faded in pixels toward the photo (`styljax.nets.strength`: why not toward γ = 1, β = 0).

The functions below (`init`, `stylize_with`, `render_all`, `mix_styles`, ...) serve any net of this
family: a config with `network()` (the Flax module, called as `(x, style, masks)`),
`norm_channels()`, `size_multiple`, `output` and `restore_tone`. The texture networks
(`styljax.nets.texture_net`) are the other member.

Differences from the references, on purpose: up-sampling is nearest ×2 + conv (Magenta; Johnson
used fractionally-strided convs), and residual blocks pad like every other conv instead of
Johnson's "reflect-start" padding with centre crops (pad + VALID convs are the XLA:CPU slow path,
see `styljax.nets.layers`). Convs followed by a norm have no bias (β plays its role).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from styljax.nets.layers import ReflectConv, crop_hw, instance_norm
from styljax.nets.stylebank import nbytes  # noqa: F401  (re-exported: bytes of a style's γ/β)
from styljax.nets.stylebank import pad_to_multiple  # two stride-2 convs: sides padded to multiples of 4
from styljax.nets.stylebank import stack_banks as stack_styles  # the styles `names` stacked on a new axis
from styljax.nets.strength import IDENTITY_STYLE, MODE_GAMMA_BETA, MODE_PIXEL, lerp, pixel_blend, restore_tone

CAFFE_MEAN_RGB = (123.68 / 255.0, 116.779 / 255.0, 103.939 / 255.0)
OUTPUTS = ("sigmoid", "tanh150")


@dataclasses.dataclass(frozen=True)
class TransformConfig:
    """Architecture of a transform net (hashable: a static jit argument).

    Attributes:
      channels: widths of conv1, conv2, conv3 (the residual width is the last), optionally followed
        by those of up1, up2; without them the up convs mirror conv2, conv1. (Magenta's published
        26-style net is (32, 32, 32, 8, 4): `styljax.io.magenta`.)
      residual_blocks: number of residual blocks.
      norm_output: a conditional IN on the output conv too (Magenta CIN) or not (Johnson).
      output: "sigmoid" (Magenta) or "tanh150" (Johnson: caffe mean + 150/255·tanh).
      restore_tone: a strength toward the neutral style moves each channel's mean and spread
        toward the photo's by 1 − s (`strength.restore_tone`). IN after the first conv makes the
        net blind to a constant colour offset of its input, so no γ/β set, the `identity` style
        included, can give the photo's tones back on its own.
      dtype: computation dtype (params and norm statistics stay float32).
    """

    channels: tuple[int, ...] = (32, 64, 128)
    residual_blocks: int = 5
    norm_output: bool = True
    output: str = "sigmoid"
    restore_tone: bool = False
    dtype: Any = jnp.float32

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "dtype", jnp.dtype(self.dtype).type)
        if len(self.channels) not in (3, 5):
            raise ValueError(f"channels needs 3 entries (conv1, conv2, conv3) or 5 (+ up1, up2), got {self.channels}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")

    @classmethod
    def cin(cls, **overrides) -> TransformConfig:
        """Magenta's conditional-instance-norm net (norm on every conv, sigmoid output)."""
        return cls(**{"norm_output": True, "output": "sigmoid", **overrides})

    @classmethod
    def johnson(cls, **overrides) -> TransformConfig:
        """Johnson's fast-neural-style net with instance norm (no output norm, tanh ×150)."""
        return cls(**{"norm_output": False, "output": "tanh150", **overrides})

    @property
    def size_multiple(self) -> int:
        """Sides are padded to multiples of this (two stride-2 convs)."""
        return 4

    def network(self) -> TransformNet:
        return TransformNet(self)

    @property
    def up_channels(self) -> tuple[int, int]:
        """Widths of up1, up2 (given, or mirroring conv2, conv1)."""
        return self.channels[3:5] if len(self.channels) == 5 else (self.channels[1], self.channels[0])

    def norm_channels(self) -> dict[str, int]:
        """{norm name: channels} of every (conditional) instance norm, in network order."""
        c1, c2, c3 = self.channels[:3]
        names = {"conv1": c1, "conv2": c2, "conv3": c3}
        for i in range(1, self.residual_blocks + 1):
            names[f"res{i}a"] = names[f"res{i}b"] = c3
        u1, u2 = self.up_channels
        names.update(up1=u1, up2=u2)
        if self.norm_output:
            names["out"] = 3
        return names


def conditional_instance_norm(
    x: jax.Array, style: Mapping[str, jax.Array], masks: jax.Array | None = None, eps: float = 1e-5
) -> jax.Array:
    """γ · IN(x) + β for x (B, H, W, C) with this layer's style params {"scale", "bias"}.

    γ, β are (C,) (one style), (B, C) (a style per image), or, with `masks` (B, R, H₀, W₀) at
    any resolution, (R, C) or (B, R, C) (each image its own): region r's γ_r, β_r, mixed per pixel
    by the masks resized to H × W.
    """
    scale, bias = style["scale"].astype(jnp.float32), style["bias"].astype(jnp.float32)
    y = instance_norm(x, eps).astype(jnp.float32)
    if masks is not None:
        b, r = masks.shape[:2]
        m = jax.image.resize(masks.astype(jnp.float32), (b, r) + x.shape[1:3], "linear", antialias=True)
        per = "brc" if scale.ndim == 3 else "rc"  # (B, R, C): each image its own R styles
        scale = jnp.einsum(f"brhw,{per}->bhwc", m, scale)
        bias = jnp.einsum(f"brhw,{per}->bhwc", m, bias)
    elif scale.ndim == 2:  # (B, C)
        scale, bias = scale[:, None, None, :], bias[:, None, None, :]
    return (y * scale + bias).astype(x.dtype)


class TransformNet(nn.Module):
    """RGB [0, 1] (B, H, W, 3) → stylized (B, 4⌈H/4⌉, 4⌈W/4⌉, 3), given one style's γ/β tree."""

    cfg: TransformConfig

    @nn.compact
    def __call__(self, x: jax.Array, style: Mapping[str, Any], masks: jax.Array | None = None) -> jax.Array:
        cfg = self.cfg
        dt = cfg.dtype
        c1, c2, c3 = cfg.channels[:3]
        u1, u2 = cfg.up_channels

        def conv_norm(y, name, features, kernel, stride=1, relu=True, upsample=False):
            y = ReflectConv(features, kernel, stride, use_bias=False, dtype=dt, name=name, upsample=upsample)(y)
            y = conditional_instance_norm(y, style[name], masks)
            return nn.relu(y) if relu else y

        y = conv_norm(x.astype(dt), "conv1", c1, 9)
        y = conv_norm(y, "conv2", c2, 3, 2)
        y = conv_norm(y, "conv3", c3, 3, 2)
        for i in range(1, cfg.residual_blocks + 1):
            h = conv_norm(y, f"res{i}a", c3, 3)
            y = y + conv_norm(h, f"res{i}b", c3, 3, relu=False)
        y = conv_norm(y, "up1", u1, 3, upsample=True)
        y = conv_norm(y, "up2", u2, 3, upsample=True)
        if cfg.norm_output:
            y = conv_norm(y, "out", 3, 9, relu=False)
        else:
            y = ReflectConv(3, 9, 1, use_bias=True, dtype=dt, name="out")(y)
        y = y.astype(jnp.float32)
        if cfg.output == "sigmoid":
            return jax.nn.sigmoid(y)
        return jnp.asarray(CAFFE_MEAN_RGB) + (150.0 / 255.0) * jnp.tanh(y)


# ------------------------------------------------------------------------------------------- init


def init_style(cfg: TransformConfig) -> dict:
    """A fresh style: γ = 1, β = 0 for every norm (IN without affine)."""
    return {n: {"scale": jnp.ones((c,), jnp.float32), "bias": jnp.zeros((c,), jnp.float32)}
            for n, c in cfg.norm_channels().items()}


def init(key: jax.Array, cfg: TransformConfig, style_names: Sequence[str]) -> dict:
    """Fresh params {"net", "styles": {name: γ/β}} (lecun-normal convs, every style γ=1, β=0)."""
    names = list(style_names)
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate style names in {names}")
    side = max(16, 2 * cfg.size_multiple)
    spec = jax.ShapeDtypeStruct((1, side, side, 3), jnp.float32)  # lazy_init traces shapes only
    net = cfg.network().lazy_init(key, spec, init_style(cfg))["params"]
    return {"net": net, "styles": {n: init_style(cfg) for n in names}}


# ---------------------------------------------------------------------------------------- forward


def toward(style: dict, neutral: dict, strength, per_image_style: bool) -> dict:
    """γ/β interpolation s·(γ, β) + (1 − s)·(γ₀, β₀) toward a `neutral` set ((C,) leaves).

    `strength` a scalar, or (B,) per image: then a shared `style` ((C,) or (R, C) leaves) becomes
    per image ((B, C) or (B, R, C)); with `per_image_style` its leaves already lead with B. Exact
    at s = 1 (`style`) and s = 0 (`neutral`).
    """

    def one(a, n):
        s = jnp.asarray(strength, jnp.float32)
        if s.ndim == 1 and not per_image_style:
            a = jnp.broadcast_to(a, s.shape + a.shape)
        return lerp(a.astype(jnp.float32), jnp.broadcast_to(n.astype(jnp.float32), a.shape), s)

    return jax.tree.map(one, style, neutral)


RESIDUAL_FIRST_NORMS = tuple(f"res{i}a" for i in range(1, 6))  # the norms that carry CIN's streaks


def toward_in(style: dict, neutral: dict, amounts: Mapping[str, float]) -> dict:
    """`style` with the γ/β of the norms named in `amounts` moved toward `neutral`'s:
    a·(γ, β) + (1 − a)·(γ₀, β₀) for each named norm (a = 1 keeps the style's, 0 takes the
    neutral's), every other norm as it is. (C,) leaves.

    Why: in the shipped CIN the long horizontal streaks of *the-scream* (and much of *wave*'s
    hatching) come from the γ/β of the residual blocks' first norms (`RESIDUAL_FIRST_NORMS`):
    setting those to the identity style's removes the streaks and keeps the palette, where the
    encoder's, the up-sampling convs' or the output norm's do not (BENCHMARKS.md, issue #31)."""
    unknown = sorted(set(amounts) - set(style))
    if unknown:
        raise ValueError(f"no norm {unknown} in this style; it has {sorted(style)}")
    out = dict(style)
    for name, a in amounts.items():
        out[name] = jax.tree.map(lambda x, n: lerp(jnp.asarray(x, jnp.float32), jnp.asarray(n, jnp.float32), a),
                                 style[name], neutral[name])
    return out


def strength_mode(styles) -> str:
    """The strength mode of a model with these style names (`styljax.nets.strength`): γ/β toward
    its reserved `identity` style when it has one, else pixel fading."""
    return MODE_GAMMA_BETA if IDENTITY_STYLE in styles else MODE_PIXEL


def neutral_style(params: dict) -> dict | None:
    """The γ/β that strength 0 interpolates toward: the model's `identity` style, or None (pixel fading)."""
    return params["styles"].get(IDENTITY_STYLE)


@functools.partial(jax.jit, static_argnames=("cfg", "clip"))
def _stylize(params, images, style, cfg, masks, clip):
    h, w = images.shape[1:3]
    m = cfg.size_multiple
    if masks is not None:
        masks = jnp.moveaxis(pad_to_multiple(jnp.moveaxis(masks, 1, -1), m), -1, 1)
    out = cfg.network().apply({"params": params["net"]}, pad_to_multiple(images, m), style, masks)
    out = crop_hw(out, h, w)
    return jnp.clip(out, 0.0, 1.0) if clip else out


# The strength blends run as their own compiled steps before / after the unchanged net (see
# `styljax.nets.strength`): at s = 1 the net gets bit-identical γ/β, or its output passes as is.
_toward = jax.jit(toward, static_argnames=("per_image_style",))
_pixel_blend = jax.jit(pixel_blend)


@functools.partial(jax.jit, static_argnames=("clip",))
def _toned(out, images, strength, clip):
    out = restore_tone(out, images.astype(jnp.float32), 1.0 - jnp.asarray(strength, jnp.float32))
    return jnp.clip(out, 0.0, 1.0) if clip else out


def stylize_with(
    params: dict, images: jax.Array, style: dict, cfg: TransformConfig,
    masks: jax.Array | None = None, clip: bool = False, strength=None, neutral: dict | None = None,
) -> jax.Array:
    """Stylize (B, H, W, 3) with explicit γ/β `style` ((C,) leaves, (B, C) per image, or (R, C)
    / (B, R, C) with region `masks` (B, R, H, W)); output (B, H, W, 3) float32.

    `strength` s (None = 1, a scalar, or (B,) per image): with a `neutral` γ/β set (the model's
    identity style, `neutral_style`) the γ/β are interpolated toward it (`toward`); without one
    the output is faded in pixels, s·O + (1 − s)·I (after clipping when `clip`). Both are exact at
    s = 1 (today's output) and s = 0 (the neutral style's output, or the input itself). With
    `cfg.restore_tone` the γ/β path also moves the tones toward the photo's by 1 − s.
    """
    if strength is not None and neutral is not None:
        leaf = jax.tree.leaves(style)[0]
        style = _toward(style, neutral, strength, per_image_style=leaf.ndim == (2 if masks is None else 3))
        if cfg.restore_tone:
            return _toned(_stylize(params, images, style, cfg, masks, False), images, strength, clip)
    out = _stylize(params, images, style, cfg, masks, clip)
    if strength is not None and neutral is None:
        out = _pixel_blend(out, images, strength)
    return out


def stylize(
    params: dict, images: jax.Array, style: str, cfg: TransformConfig, clip: bool = False, strength=None
) -> jax.Array:
    """Stylize with the style named `style`; `strength` in the model's own mode (`strength_mode`)."""
    return stylize_with(params, images, params["styles"][style], cfg, clip=clip, strength=strength,
                        neutral=None if strength is None else neutral_style(params))


def mix_styles(styles: Mapping[str, dict], weights: Mapping[str, float], normalize: bool = True) -> dict:
    """γ/β = Σᵢ wᵢ (γᵢ, βᵢ): style interpolation. `normalize` scales w to Σ wᵢ = 1 (as the CLI's
    `a:0.5,b:0.5`); Magenta's `weighted_instance_norm` does not renormalise (`normalize=False`)."""
    names = list(weights)
    if not names:
        raise ValueError("mix_styles needs at least one weight")
    w = jnp.asarray([weights[n] for n in names], jnp.float32)
    if normalize:
        if all(isinstance(weights[n], (int, float)) for n in names) and abs(float(w.sum())) < 1e-12:
            raise ValueError(f"style weights sum to 0: {dict(weights)}")
        w = w / w.sum()
    return jax.tree.map(lambda x: jnp.tensordot(w, x, axes=1), stack_styles(styles, names))


@functools.partial(jax.jit, static_argnames=("cfg", "clip"))
def _render_stacked(params, images, stacked, cfg, clip):
    return jax.vmap(lambda s: _stylize(params, images, s, cfg, None, clip))(stacked)


_toward_all = jax.jit(jax.vmap(lambda st, n, s: toward(st, n, s, False), in_axes=(0, None, None)))
_pixel_blend_all = jax.jit(jax.vmap(pixel_blend, in_axes=(0, None, None)))


def render_all(
    params: dict, images: jax.Array, cfg: TransformConfig, names: Sequence[str] | None = None, clip: bool = False,
    strength=None,
) -> jax.Array:
    """Every style at once, (K, B, H, W, 3): `jax.vmap` over the stacked γ/β (default: all, sorted);
    `strength` as `stylize` (the same for every style)."""
    names = tuple(sorted(params["styles"])) if names is None else tuple(names)
    stacked = stack_styles(params["styles"], names)
    neutral = None if strength is None else neutral_style(params)
    if strength is not None and neutral is not None:
        stacked = _toward_all(stacked, neutral, strength)
    outs = _render_stacked(params, images, stacked, cfg, clip)
    if strength is not None and neutral is None:
        outs = _pixel_blend_all(outs, images, strength)
    return outs


__all__ = [
    "CAFFE_MEAN_RGB",
    "TransformConfig",
    "TransformNet",
    "conditional_instance_norm",
    "init",
    "init_style",
    "mix_styles",
    "nbytes",
    "neutral_style",
    "render_all",
    "stack_styles",
    "strength_mode",
    "stylize",
    "stylize_with",
    "toward",
]
