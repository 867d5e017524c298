"""StyleBank (Chen, Yuan, Liao, Yu, Hua — CVPR 2017): one auto-encoder, one small filter bank per style.

    O_i = D(K_i ⊗ E(I))   (stylizing branch, style i)        O = D(E(I))   (auto-encoder branch)

Paper-default architecture (`StyleBankConfig()`), all convs reflection-padded (`ReflectConv`):

=========  ==================================================================================
Encoder E  9×9 s1 3→32, IN, ReLU → 3×3 s2 32→64, IN, ReLU → 3×3 s2 64→128, IN, ReLU
Bank K_i   one 3×3 s1 128→128 conv with bias, *linear* (no IN/ReLU): 589,824 B kernel + 512 B bias
Decoder D  [nearest ×2, 3×3 128→64], IN, ReLU → [nearest ×2, 3×3 64→32], IN, ReLU → 9×9 32→3
=========  ==================================================================================

Choices, and where this differs from the paper or the ports:

- Up-sampling: nearest ×2 + conv (as the faithful ports do) instead of the paper's fractionally-
  strided convs — no checkerboard artefacts, exact 2× sizes.
- Convs followed by IN have no bias (IN removes it; IN's β plays its role). The bank keeps its bias
  (as the ports) and the output conv has one.
- The bank is linear as in the paper, so the fusion identities hold exactly:
  (Σ wᵢ Kᵢ) ⊗ F = Σ wᵢ (Kᵢ ⊗ F). The popular port (jxcodetw) uses a 256-channel, two-layer bank with
  IN+ReLU: `StyleBankConfig.port_variant()`; its extra encoder layer keeps the paper's stride placement
  (strides on the 2nd and 3rd convs, the port strides the 9×9 instead) — total downsampling is 4 either way.
- Output: the last conv is linear (no sigmoid/tanh) by default, as in the paper; the identity loss
  ‖O − I‖² trains it directly on [0, 1] targets. Clip only for display/saving: `stylize(..., clip=True)`.
  Training code should keep `clip=False` (clipping zeroes gradients outside [0, 1]).
  `output="sigmoid"` bounds it, O = σ(conv(·)), as the Johnson-style ports' scaled tanh does: a linear
  output learns to match a painting's fine-layer Gram with values far outside [0, 1] (we measured
  −2.6…3.4 after 1600 steps), which clipping for display then destroys.
- Sizes: images are (B, H, W, 3) RGB in [0, 1] with H, W ≥ 4 of any parity. `encode` reflect-pads the
  bottom/right edges up to a multiple of 4 (F is (B, ⌈H/4⌉, ⌈W/4⌉, C)), and `stylize`,
  `reconstruct`, `render_all` crop the decoded output back to H × W. `decode` alone returns 4h × 4w
  unless given `hw`.

Params are a plain nested dict::

    {"encoder": {...}, "decoder": {...}, "banks": {"<style>": {"conv1": {"kernel", "bias"}}, ...}}

Everything below is a pure function of (params, inputs) with the config static; the entry points
are jitted (or chains of jitted steps). Style strength s ∈ [0, 1] (`strength=` of `stylize`,
`stylize_bank`, `render_all`, `stylize_per_image`; `blend_features`) decodes
s·(K ⊗ F) + (1 − s)·F: s = 1 is the stylizing branch bit for bit, s = 0 the auto-encoder branch.
Note that JAX sorts dict keys in pytrees, so "all styles" means `sorted(params["banks"])`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from styljax.nets.layers import ConvINReLU, ReflectConv, crop_hw, is_symbolic, reflect_conv, reflect_pad
from styljax.nets.strength import lerp, restore_tone

DOWNSAMPLE = 4  # two stride-2 convs in the encoder
KMEANS_ITERS = 10  # Lloyd iterations after the k-means++ seeding of `kmeans_masks`


@dataclasses.dataclass(frozen=True)
class StyleBankConfig:
    """Architecture of a StyleBank net (hashable: it is a static jit argument).

    Attributes:
      channels: encoder widths; the first conv is 9×9 s1, the 2nd and 3rd are 3×3 s2, any further
        ones 3×3 s1. The decoder mirrors them. At least 3 entries.
      bank_layers: convs per style bank.
      bank_kernel: bank kernel size (odd); the paper finds larger kernels capture larger textures.
      bank_norm_relu: follow each bank conv by IN + ReLU (the port; breaks the fusion identities).
      output: "linear" (paper) or "sigmoid" (output bounded to (0, 1)).
      restore_tone: give the auto-encoder branch the photo's tones back (`restore_tone`). The
        encoder normalises every layer (IN), so E(I + c) = E(I) for any constant colour offset c:
        the features do not know the photo's tones, and D(E(I)) can only guess them. With this
        on, `reconstruct` matches each channel's mean and spread to the photo's, and a strength
        blend moves them toward the photo's by 1 − s. Off in models trained before it existed.
      dtype: computation dtype (params stay float32; outputs of `decode` are float32).
    """

    channels: tuple[int, ...] = (32, 64, 128)
    bank_layers: int = 1
    bank_kernel: int = 3
    bank_norm_relu: bool = False
    output: str = "linear"
    restore_tone: bool = False
    dtype: Any = jnp.float32

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        # canonical scalar type (jnp.float32, np.float32, "float32" -> np.float32): equal configs hash equal
        object.__setattr__(self, "dtype", jnp.dtype(self.dtype).type)
        if len(self.channels) < 3:
            raise ValueError(f"channels needs at least 3 entries, got {self.channels}")
        if self.bank_layers < 1:
            raise ValueError(f"bank_layers must be >= 1, got {self.bank_layers}")
        if self.bank_kernel < 1 or self.bank_kernel % 2 != 1:
            raise ValueError(f"bank_kernel must be odd, got {self.bank_kernel}")
        if self.output not in ("linear", "sigmoid"):
            raise ValueError(f"output must be 'linear' or 'sigmoid', got {self.output!r}")

    @classmethod
    def port_variant(cls, **overrides) -> StyleBankConfig:
        """jxcodetw/Stylebank's shape: channels (32, 64, 128, 256), bank 2 × (3×3 256→256, IN, ReLU)."""
        kw = dict(channels=(32, 64, 128, 256), bank_layers=2, bank_kernel=3, bank_norm_relu=True)
        kw.update(overrides)
        return cls(**kw)

    @property
    def features(self) -> int:
        """Channels C of the encoded features F."""
        return self.channels[-1]

    @property
    def bank_is_affine(self) -> bool:
        """True when K(F) = W ⊛ F + b is affine in F (no IN/ReLU): fusion is exact."""
        return not self.bank_norm_relu

    def feature_hw(self, hw: tuple[int, int]) -> tuple[int, int]:
        """(h, w) of F for images of size hw: (⌈H/4⌉, ⌈W/4⌉)."""
        return feature_hw(hw)


def feature_hw(hw: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of the encoded features F for images of size hw: (⌈H/4⌉, ⌈W/4⌉), any config."""
    return tuple(-(-int(n) // DOWNSAMPLE) for n in hw)


# ----------------------------------------------------------------------------------------- modules


def _stride(i: int) -> int:
    return 2 if i in (1, 2) else 1


class Encoder(nn.Module):
    """E: RGB [0, 1] (B, H, W, 3), H, W multiples of 4 → F (B, H/4, W/4, C)."""

    cfg: StyleBankConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cfg = self.cfg
        x = x.astype(cfg.dtype)
        for i, ch in enumerate(cfg.channels):
            x = ConvINReLU(ch, 9 if i == 0 else 3, _stride(i), dtype=cfg.dtype, name=f"conv{i + 1}")(x)
        return x


class Decoder(nn.Module):
    """D: F (B, h, w, C) → images (B, 4h, 4w, 3); linear or sigmoid output (`cfg.output`)."""

    cfg: StyleBankConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cfg = self.cfg
        ch = cfg.channels
        x = x.astype(cfg.dtype)
        n = 0
        for i in range(len(ch) - 1, 0, -1):  # mirror of encoder layer i (maps ch[i] -> ch[i-1])
            n += 1
            x = ConvINReLU(ch[i - 1], 3, 1, upsample=_stride(i) == 2, dtype=cfg.dtype, name=f"conv{n}")(x)
        x = ReflectConv(3, 9, 1, use_bias=True, dtype=cfg.dtype, name=f"conv{n + 1}")(x).astype(jnp.float32)
        return jax.nn.sigmoid(x) if cfg.output == "sigmoid" else x


class Bank(nn.Module):
    """K_i: `bank_layers` × (conv k×k C→C [+ IN + ReLU]). Linear with bias by default."""

    cfg: StyleBankConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cfg = self.cfg
        x = x.astype(cfg.dtype)
        for i in range(cfg.bank_layers):
            if cfg.bank_norm_relu:
                x = ConvINReLU(cfg.features, cfg.bank_kernel, dtype=cfg.dtype, name=f"conv{i + 1}")(x)
            else:
                x = ReflectConv(cfg.features, cfg.bank_kernel, 1, True, cfg.dtype, name=f"conv{i + 1}")(x)
        return x


# ------------------------------------------------------------------------------------- init, stats


def _spec(shape: tuple[int, ...]) -> jax.ShapeDtypeStruct:
    # lazy_init traces the forward pass on a shape only (no compute, no per-shape compiles)
    return jax.ShapeDtypeStruct(shape, jnp.float32)


def init_bank(key: jax.Array, cfg: StyleBankConfig) -> dict:
    """Fresh params for one style bank (to add a style: `params["banks"][name] = init_bank(...)`)."""
    return Bank(cfg).lazy_init(key, _spec((1, 8, 8, cfg.features)))["params"]


def init(key: jax.Array, cfg: StyleBankConfig, style_names: Sequence[str]) -> dict:
    """Fresh params {"encoder", "decoder", "banks": {name: bank}} (lecun-normal convs, IN γ=1, β=0)."""
    names = list(style_names)
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate style names in {names}")
    k_enc, k_dec, *k_banks = jax.random.split(key, 2 + len(names))
    enc = Encoder(cfg).lazy_init(k_enc, _spec((1, 16, 16, 3)))["params"]
    dec = Decoder(cfg).lazy_init(k_dec, _spec((1, 4, 4, cfg.features)))["params"]
    banks = {n: init_bank(k, cfg) for n, k in zip(names, k_banks)}
    return {"encoder": enc, "decoder": dec, "banks": banks}


def nbytes(tree: Any) -> int:
    """Total bytes of the arrays in a pytree (e.g. one bank: 589,824 + 512 for the default)."""
    return sum(int(x.size) * x.dtype.itemsize for x in jax.tree.leaves(tree))


# ------------------------------------------------------------------------------------ forward parts


def pad_to_multiple(images: jax.Array, multiple: int = DOWNSAMPLE) -> jax.Array:
    """Reflect-pad the bottom/right of (B, H, W, c) so H and W become multiples of `multiple`."""
    h, w = images.shape[1:3]
    if is_symbolic(h, w):
        return _pad_to_multiple_symbolic(images, multiple)
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return images
    if min(h, w) < multiple:
        raise ValueError(f"images must be at least {multiple} px on each side, got {h}×{w}")
    return jnp.pad(images, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="reflect")


def _pad_to_multiple_symbolic(images: jax.Array, multiple: int) -> jax.Array:
    """`pad_to_multiple` for symbolic H, W (`jax.export`): the padding is unknown while tracing, so
    each axis gets the `multiple - 1` reflected rows any size could need and is then cut to
    multiple·⌈n/multiple⌉ (slices and a flip: shape arithmetic that ONNX converters carry through)."""
    x = images
    for axis in (1, 2):
        n = x.shape[axis]
        tail = jnp.flip(lax.slice_in_dim(x, n - multiple, n - 1, axis=axis), axis=axis)
        x = lax.slice_in_dim(lax.concatenate([x, tail], axis), 0, multiple * ((n + multiple - 1) // multiple), axis=axis)
    return x


@functools.partial(jax.jit, static_argnames=("cfg",))
def encode(params: dict, images: jax.Array, cfg: StyleBankConfig) -> jax.Array:
    """F = E(pad₄(I)): (B, H, W, 3) → (B, ⌈H/4⌉, ⌈W/4⌉, C) in `cfg.dtype`."""
    return Encoder(cfg).apply({"params": params["encoder"]}, pad_to_multiple(images))


@functools.partial(jax.jit, static_argnames=("cfg",))
def apply_bank(bank: dict, features: jax.Array, cfg: StyleBankConfig) -> jax.Array:
    """F' = K ⊗ F for one bank's params: (B, h, w, C) → (B, h, w, C)."""
    return Bank(cfg).apply({"params": bank}, features)


@functools.partial(jax.jit, static_argnames=("cfg", "hw"))
def decode(
    params: dict, features: jax.Array, cfg: StyleBankConfig, hw: tuple[int, int] | None = None
) -> jax.Array:
    """O = D(F): (B, h, w, C) → float32 (B, 4h, 4w, 3), cropped to the top-left `hw` if given."""
    out = Decoder(cfg).apply({"params": params["decoder"]}, features)
    if hw is not None:
        out = crop_hw(out, *hw)
    return out


def _finish(out: jax.Array, clip: bool) -> jax.Array:
    return jnp.clip(out, 0.0, 1.0) if clip else out


def blend_features(styled: jax.Array, features: jax.Array, strength=None) -> jax.Array:
    """Style strength in feature space: F̃ = s·(K ⊗ F) + (1 − s)·F (decode F̃ with the same decoder).

    `strength` None (= 1: `styled` as is), a scalar, or (B,) per image over the batch axis of
    `features` (B, h, w, C) and `styled` (B, h, w, C). s = 1 gives `styled` exactly and s = 0 gives
    F exactly (the auto-encoder path `reconstruct`).
    """
    if strength is None:
        return styled
    return lerp(styled, features, strength)


# The strength blend runs as its own compiled step between "encoder + bank" and "decoder" (see
# `styljax.nets.strength`): at s = 1 the decoder program gets bit-identical features.
_blend = jax.jit(blend_features)
_blend_all = jax.jit(jax.vmap(blend_features, in_axes=(0, None, None)))  # (K, B, ...) styled


@functools.partial(jax.jit, static_argnames=("cfg", "hw", "clip"))
def _decode_finish(params, features, cfg, hw, clip):
    return _finish(decode(params, features, cfg, hw), clip)


@functools.partial(jax.jit, static_argnames=("cfg", "hw", "clip"))
def _decode_toned(params, features, images, amount, cfg, hw, clip):
    out = restore_tone(decode(params, features, cfg, hw), images.astype(jnp.float32), amount)
    return _finish(out, clip)


def _decode_blended(params, styled, features, cfg, hw, clip, strength, images=None):
    if strength is None:
        return _decode_finish(params, styled, cfg, hw, clip)
    styled = _blend(styled, features, strength)
    if cfg.restore_tone and images is not None:  # tones move toward the photo's as s goes to 0
        return _decode_toned(params, styled, images, 1.0 - jnp.asarray(strength, jnp.float32), cfg, hw, clip)
    return _decode_finish(params, styled, cfg, hw, clip)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _encode_bank(params, images, bank, cfg):
    f = encode(params, images, cfg)
    return apply_bank(bank, f, cfg), f


@functools.partial(jax.jit, static_argnames=("cfg", "clip"))
def _stylize_whole(params, images, bank, cfg, clip):
    return _decode_finish(params, apply_bank(bank, encode(params, images, cfg), cfg), cfg, images.shape[1:3], clip)


def stylize_bank(
    params: dict, images: jax.Array, bank: dict, cfg: StyleBankConfig, clip: bool = False, strength=None
) -> jax.Array:
    """D(K ⊗ E(I)) for explicit bank params `bank` (e.g. a `fuse_linear` result); output H × W.
    With `strength` s (scalar or (B,)): D(s·(K ⊗ F) + (1 − s)·F), F = E(I) (`blend_features`)."""
    if strength is None:  # one program: no encoder output to hand over to a second one
        return _stylize_whole(params, images, bank, cfg, clip)
    styled, f = _encode_bank(params, images, bank, cfg)
    return _decode_blended(params, styled, f, cfg, images.shape[1:3], clip, strength, images)


def stylize(
    params: dict, images: jax.Array, style: str, cfg: StyleBankConfig, clip: bool = False, strength=None
) -> jax.Array:
    """O_i = D(K_i ⊗ E(I)) for the style named `style`; (B, H, W, 3) → (B, H, W, 3) float32.
    `strength` as `stylize_bank`."""
    return stylize_bank(params, images, params["banks"][style], cfg, clip, strength)


@functools.partial(jax.jit, static_argnames=("cfg", "clip"))
def reconstruct(params: dict, images: jax.Array, cfg: StyleBankConfig, clip: bool = False) -> jax.Array:
    """Auto-encoder branch O = D(E(I)) (trained with the identity loss ‖O − I‖²), with the photo's
    tones restored when `cfg.restore_tone`."""
    f = encode(params, images, cfg)
    out = decode(params, f, cfg, images.shape[1:3])
    if cfg.restore_tone:
        out = restore_tone(out, images.astype(jnp.float32))
    return _finish(out, clip)


# ------------------------------------------------------------------------------ many styles at once


def stack_banks(banks: Mapping[str, dict], names: Sequence[str]) -> dict:
    """Stack the banks `names` into one pytree whose leaves have a leading axis K = len(names)."""
    missing = [n for n in names if n not in banks]
    if missing:
        raise KeyError(f"unknown styles {missing}; known: {sorted(banks)}")
    return jax.tree.map(lambda *xs: jnp.stack(xs), *[banks[n] for n in names])


@functools.partial(jax.jit, static_argnames=("cfg", "names"))
def _encode_banks(params, images, cfg, names):
    f = encode(params, images, cfg)  # once
    stacked = stack_banks(params["banks"], names)
    return jax.vmap(lambda bank: apply_bank(bank, f, cfg))(stacked), f  # (K, B, h', w', C), F


def _decode_styles(params, fk, cfg, hw, clip):
    """(K, B, h', w', C) styled features → (K, B, H, W, 3): the K·B maps decoded as one batch."""
    k, b = fk.shape[:2]
    return _decode_finish(params, fk.reshape((k * b,) + fk.shape[2:]), cfg, hw, clip).reshape((k, b) + hw + (3,))


@functools.partial(jax.jit, static_argnames=("cfg", "names", "clip"))
def _render_all_whole(params, images, cfg, names, clip):
    return _decode_styles(params, _encode_banks(params, images, cfg, names)[0], cfg, images.shape[1:3], clip)


def render_all(
    params: dict,
    images: jax.Array,
    cfg: StyleBankConfig,
    names: Sequence[str] | None = None,
    clip: bool = False,
    strength=None,
) -> jax.Array:
    """Every style at once: (K, B, H, W, 3), K = len(names) (default: all, sorted by name).

    Encodes once, applies the K stacked banks with `jax.vmap`, and decodes all K·B feature maps as
    one batch (IN is per image); equals `stylize` per style (with the same `strength`, scalar or (B,)).
    """
    names = tuple(sorted(params["banks"])) if names is None else tuple(names)
    if strength is None:  # one program, as `stylize_bank`
        return _render_all_whole(params, images, cfg, names, clip)
    fk, f = _encode_banks(params, images, cfg, names)
    blended = _blend_all(fk, f, strength)  # one strength for all
    if not cfg.restore_tone:
        return _decode_styles(params, blended, cfg, images.shape[1:3], clip)
    k, b = blended.shape[:2]
    flat = blended.reshape((k * b,) + blended.shape[2:])
    photos = jnp.tile(images, (k, 1, 1, 1))
    amount = jnp.tile(jnp.broadcast_to(1.0 - jnp.asarray(strength, jnp.float32), (b,)), k)
    out = _decode_toned(params, flat, photos, amount, cfg, images.shape[1:3], clip)
    return out.reshape((k, b) + images.shape[1:3] + (3,))


# ------------------------------------------------------------------------------------------ fusion


def fuse_linear(banks: Mapping[str, dict], weights: Mapping[str, float]) -> dict:
    """Linear fusion K̃ = Σᵢ wᵢ Kᵢ over kernels and biases, with w normalised to Σ wᵢ = 1 (paper).

    Apply it once and use the result as a single bank (`apply_bank`, `stylize_bank`). For the
    paper's linear bank, K̃ ⊗ F = Σᵢ wᵢ (Kᵢ ⊗ F) exactly; for a bank with IN/ReLU
    (`bank_norm_relu`) this is only parameter interpolation. Negative weights extrapolate; the sum
    must not be 0.
    """
    names = list(weights)
    if not names:
        raise ValueError("fuse_linear needs at least one weight")
    missing = [n for n in names if n not in banks]
    if missing:
        raise KeyError(f"unknown styles {missing}; known: {sorted(banks)}")
    if all(isinstance(weights[n], (int, float)) for n in names) and abs(sum(weights.values())) < 1e-12:
        raise ValueError(f"fusion weights sum to 0: {dict(weights)}")
    w = jnp.asarray([weights[n] for n in names], jnp.float32)
    w = w / w.sum()
    stacked = stack_banks(banks, names)
    return jax.tree.map(lambda x: jnp.tensordot(w, x.astype(jnp.float32), axes=1).astype(x.dtype), stacked)


def bank_gain(bank: dict, features: jax.Array, cfg: StyleBankConfig) -> jax.Array:
    """RMS(K ⊗ F) / RMS(F) per image, (B,): how much louder the bank's output is than its input."""
    out = apply_bank(bank, features, cfg).astype(jnp.float32)
    rms = lambda x: jnp.sqrt(jnp.mean(jnp.square(x.astype(jnp.float32)), axis=(1, 2, 3)))
    return rms(out) / (rms(features) + 1e-12)


def calibrate_banks(
    params: dict, images: jax.Array, cfg: StyleBankConfig, names: Sequence[str] | None = None
) -> tuple[dict, dict]:
    """Scale every bank so that its output is as loud as the features it replaces (gain 1).

    The decoder starts with a bias-free conv and IN, so D(c·F̃) = D(F̃) for any c > 0: a bank's
    overall scale is invisible at full strength and training leaves it wherever it drifts (the
    shipped banks' outputs measured 4-25× the features'). It is not invisible to the controls that
    add feature maps, the strength blend s·(K ⊗ F) + (1 − s)·F and the mixes Σ wᵢ Kᵢ ⊗ F: a bank 19×
    louder than F wins a 50/50 blend 19 to 1. An affine bank's last conv scales exactly, so each
    bank's kernel and bias are divided by its mean gain over `images`; full-strength outputs are
    unchanged (up to IN's ε) and the fusion identities still hold.

    Args:
      params: a StyleBank model's params.
      images: (B, H, W, 3) photos to measure the gains on.
      cfg: the model's config; its banks must be affine (`cfg.bank_is_affine`).
      names: the banks to calibrate (default: all); the others are returned as they are.
    Returns:
      (params with those banks rescaled, {style: the gain it had}).
    """
    if not cfg.bank_is_affine:
        raise ValueError("calibrate_banks needs affine banks (bank_norm_relu=False)")
    f = encode(params, images, cfg)
    last = f"conv{cfg.bank_layers}"
    banks, gains = {}, {}
    for name, bank in params["banks"].items():
        if names is not None and name not in names:
            banks[name] = bank
            continue
        g = float(jnp.mean(bank_gain(bank, f, cfg)))
        banks[name] = {**bank, last: jax.tree.map(lambda x, g=g: x / jnp.asarray(g, x.dtype), bank[last])}
        gains[name] = g
    return {**params, "banks": banks}, gains


def bank_at_zero(bank: dict, cfg: StyleBankConfig, dtype=jnp.float32) -> jax.Array:
    """K(0) of an affine bank (`cfg.bank_is_affine`), float32 (1, 1, C): spatially constant (the
    bias, or for stacked layers the biases carried through), so it is computed on a few positions,
    not a zero feature map the size of F. A full-size zero input is a compile-time constant that
    XLA constant-folds through the reflection-padding gather: seconds of compilation (and
    `slow_operation_alarm` log blocks) for large images."""
    side = max(2, cfg.bank_kernel // 2 + 1)  # the smallest map reflection padding accepts
    zero = jnp.zeros((1, side, side, cfg.features), dtype)
    return apply_bank(bank, zero, cfg)[0, :1, :1].astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("names", "cfg"))
def _fuse_regions(params, features, masks, names, cfg):
    stacked = stack_banks(params["banks"], names)
    m = jnp.moveaxis(masks.astype(jnp.float32), 1, 0)[..., None]  # (R, B, h, w, 1)
    f = features.astype(jnp.float32)
    bank = jax.vmap(lambda p, x: apply_bank(p, x, cfg))
    if cfg.bank_is_affine and cfg.bank_layers == 1:  # the paper's bank: Σ_r W_r ⊛ (M_r F) as one conv
        # over the R masked copies side by side (R·C input channels): a `vmap` of the conv over
        # the regions' kernels would be a grouped conv, several times slower on XLA:CPU
        layer = stacked["conv1"]
        r, k = layer["kernel"].shape[:2]
        x = jnp.concatenate([(m[i] * f).astype(features.dtype) for i in range(r)], axis=-1)
        w = jnp.moveaxis(layer["kernel"], 0, 2).reshape(k, k, r * cfg.features, cfg.features)
        out = reflect_conv(x, w.astype(features.dtype)).astype(jnp.float32)
        out = out + (m * layer["bias"].astype(jnp.float32)[:, None, None, None, :]).sum(axis=0)  # Σ_r M_r b_r
        return out.astype(features.dtype)
    if cfg.bank_is_affine:
        out = bank(stacked, (m * f).astype(features.dtype)).astype(jnp.float32)  # W ⊛ (M F) + b
        const = jax.vmap(lambda p: bank_at_zero(p, cfg, features.dtype))(stacked)  # K(0) = b, (R, 1, 1, C)
        out = out - (1.0 - m) * const[:, None]  # W ⊛ (M F) + M b
    else:
        fr = jnp.broadcast_to(features, (len(names),) + features.shape)
        out = m * bank(stacked, fr).astype(jnp.float32)
    return out.sum(axis=0).astype(features.dtype)


def fuse_regions(
    params: dict, features: jax.Array, masks: jax.Array, names: Sequence[str], cfg: StyleBankConfig
) -> jax.Array:
    """Region fusion F̃ = Σ_r K_r ⊗ (M_r × F) (paper), masks (B, R, h, w) at F's resolution.

    `names[r]` is the style of region r. Masks are usually one-hot over R (`kmeans_masks`) or soft
    and summing to 1 (`resize_masks` of user masks). Two details the paper leaves open:
    - Bias: the paper's Kᵢ are pure convolutions; our banks have a bias b_r, and the literal formula
      would add every region's bias everywhere. We add M_r·b_r instead, i.e.
      F̃ = Σ_r [W_r ⊛ (M_r F) + M_r b_r] — the paper's formula for bias-free banks, and one all-ones
      mask gives exactly that style.
    - Non-linear banks (`bank_norm_relu`, the port): masking the input before IN is meaningless, so
      the outputs are masked instead: F̃ = Σ_r M_r · K_r(F).
    """
    names = tuple(names)
    if masks.ndim != 4 or masks.shape[1] != len(names):
        raise ValueError(f"masks must be (B, {len(names)}, h, w), got {masks.shape}")
    if masks.shape[2:] != features.shape[1:3]:
        raise ValueError(f"masks {masks.shape[2:]} must be at feature resolution {features.shape[1:3]}")
    return _fuse_regions(params, features, masks, names, cfg)


def resize_masks(masks: jax.Array, hw: tuple[int, int]) -> jax.Array:
    """Area-resize masks (..., H, W) → (..., h, w), values kept in [0, 1].

    Linear resampling weights sum to 1, so masks that partition the image (Σ_r M_r = 1) still do.
    For image-res masks of images whose sides are not multiples of 4, first reflect-pad them like
    the images (`pad_to_multiple` on (B, H, W, R)) or accept the < 4 px misalignment.
    """
    shape = tuple(masks.shape[:-2]) + tuple(int(n) for n in hw)
    out = jax.image.resize(masks.astype(jnp.float32), shape, "linear", antialias=True)
    return jnp.clip(out, 0.0, 1.0)


def region_masks_for(images_masks: jax.Array, cfg: StyleBankConfig) -> jax.Array:
    """User masks (B, R, H, W) at image resolution → (B, R, ⌈H/4⌉, ⌈W/4⌉), padded like `encode` does."""
    m = pad_to_multiple(jnp.moveaxis(images_masks, 1, -1))  # (B, H', W', R)
    m = jnp.moveaxis(m, -1, 1)
    return resize_masks(m, cfg.feature_hw(images_masks.shape[2:]))


@functools.partial(jax.jit, static_argnames=("names", "cfg", "k"))
def _encode_regions(params, images, masks, noise, names, cfg, k):
    f = encode(params, images, cfg)
    if masks is None:
        m = _kmeans_masks(f, noise, k, KMEANS_ITERS)
    else:
        m = region_masks_for(masks, cfg)
    return _fuse_regions(params, f, m, names, cfg), f


def stylize_regions(
    params: dict, images: jax.Array, names: Sequence[str], cfg: StyleBankConfig, masks: jax.Array | None = None,
    k: int | None = None, seed: int = 0, clip: bool = False, strength=None,
) -> jax.Array:
    """Region fusion end to end: D(Σ_r K_r ⊗ (M_r × E(I))) (`fuse_regions`), (B, H, W, 3) → (B, H, W, 3).

    Args:
        names: the style of each region, one per region.
        masks: (B, R, H, W) regions at image resolution (`region_masks_for`), or None for the
            paper's K-means regions of the encoder features (`kmeans_masks` with `k` = R clusters
            and `seed`).
        clip, strength: as `stylize_bank`.
    Returns:
        float32 (B, H, W, 3). Encoder, regions and banks are one compiled program, the decoder
        the same program as `stylize_bank`'s.
    """
    names = tuple(names)
    if masks is None:
        if k != len(names):
            raise ValueError(f"K-means regions need k = {len(names)} (one per style), got {k}")
    elif masks.ndim != 4 or masks.shape[1] != len(names) or masks.shape[2:] != images.shape[1:3]:
        raise ValueError(f"masks must be (B, {len(names)}, H, W) at image resolution, got {masks.shape}")
    noise = None
    if masks is None:
        noise = kmeans_noise(seed, k, images.shape[0], math.prod(cfg.feature_hw(images.shape[1:3])))
    fused, f = _encode_regions(params, images, masks, noise, names, cfg, None if masks is not None else k)
    return _decode_blended(params, fused, f, cfg, images.shape[1:3], clip, strength, images)


# ------------------------------------------------------------------------- a style per image (serving)


def _conv_per_image(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """Reflect-padded stride-1 conv with a different HWIO kernel per image: x (B, h, w, C), kernel
    (B, k, k, C, D) → (B, h, w, D), as one batched matmul over the k² shifted copies of x (im2col).
    `vmap` of the conv becomes a grouped conv, several times slower on XLA:CPU forward and backward."""
    k = kernel.shape[1]
    h, w = x.shape[1:3]
    xp = reflect_pad(x, k // 2)
    patches = jnp.concatenate([xp[:, dy : dy + h, dx : dx + w] for dy in range(k) for dx in range(k)], axis=-1)
    flat = kernel.reshape(kernel.shape[0], -1, kernel.shape[-1]).astype(x.dtype)
    return jnp.einsum("bhwk,bkd->bhwd", patches, flat)


def apply_banks_per_image(banks: dict, features: jax.Array, cfg: StyleBankConfig) -> jax.Array:
    """F'_b = K_b ⊗ F_b: banks with a leading batch axis B (one per image), features (B, h, w, C)."""
    if cfg.bank_is_affine and cfg.bank_layers == 1:  # the paper's bank: one linear conv
        layer = banks["conv1"]
        return _conv_per_image(features, layer["kernel"]) + layer["bias"][:, None, None, :].astype(features.dtype)
    return jax.vmap(lambda bank, x: apply_bank(bank, x[None], cfg)[0])(banks, features)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _fused_per_image(params, images, banks, masks, cfg):
    f = encode(params, images, cfg)
    m = region_masks_for(masks, cfg)[..., None]  # (B, R, h, w, 1)
    ff = f.astype(jnp.float32)
    out = 0.0
    if cfg.bank_is_affine and cfg.bank_layers == 1:  # the paper's bank: one linear conv
        layer = banks["conv1"]
        for r in range(m.shape[1]):
            out = out + _conv_per_image((m[:, r] * ff).astype(f.dtype), layer["kernel"][:, r]).astype(jnp.float32)
            out = out + m[:, r] * layer["bias"][:, r, None, None, :]
    else:  # any other bank, one image at a time (as `fuse_regions`)
        one = jax.vmap(lambda k, x: apply_bank(k, x[None], cfg)[0].astype(jnp.float32))
        for r in range(m.shape[1]):
            bank_r = jax.tree.map(lambda a: a[:, r], banks)
            if cfg.bank_is_affine:
                zero = jax.vmap(lambda k: bank_at_zero(k, cfg, f.dtype))(bank_r)  # (B, 1, 1, C)
                out = out + one(bank_r, (m[:, r] * ff).astype(f.dtype)) - (1 - m[:, r]) * zero
            else:
                out = out + m[:, r] * one(bank_r, f)
    return out.astype(f.dtype), f


def stylize_per_image(
    params: dict, images: jax.Array, banks: dict, masks: jax.Array, cfg: StyleBankConfig, clip: bool = False,
    strength=None,
) -> jax.Array:
    """Each image its own banks: images (B, H, W, 3), `banks` leaves with leading axes (B, R) (R
    regions per image), masks (B, R, H, W) at image resolution → (B, H, W, 3).

    F̃_b = Σ_r W_br ⊛ (M_br F_b) + M_br b_br (as `fuse_regions`); R = 1 with an all-ones mask is
    `stylize_bank` with that image's bank. One compiled call serves a batch of requests that each
    chose their own style, fusion or region split (the HTTP service's dynamic batches). `strength`
    (B,) (or a scalar) gives each image its own strength: D(s_b·F̃_b + (1 − s_b)·F_b).
    """
    fused, f = _fused_per_image(params, images, banks, masks, cfg)
    return _decode_blended(params, fused, f, cfg, images.shape[1:3], clip, strength, images)


# ----------------------------------------------------------------------------------------- k-means


def _sqdist(x: jax.Array, c: jax.Array) -> jax.Array:
    """‖x_bn − c_bk‖² for x (B, N, C), c (B, K, C) → (B, N, K), clamped at 0."""
    d = jnp.sum(x * x, axis=-1, keepdims=True) - 2.0 * (x @ jnp.swapaxes(c, 1, 2))
    return jnp.maximum(d + jnp.sum(c * c, axis=-1)[:, None, :], 0.0)


def _one_hot(labels: jax.Array, k: int) -> jax.Array:
    """float32 one-hot over a new last axis (`jax.nn.one_hot` without its checks, quicker to trace)."""
    return (labels[..., None] == jnp.arange(k)).astype(jnp.float32)


def _kmeans_labels(x: jax.Array, noise: jax.Array, k: int, iters: int) -> jax.Array:
    """k-means++ seeding then `iters` Lloyd steps on each image's points x (B, N, C) → labels (B, N).

    The seeding draws point i with probability ∝ D(i)² by the Gumbel-max trick: argmax of
    log D² + `noise` (k, B, N) standard Gumbel noise, one slice per seed. The noise is an input
    (`kmeans_noise`) rather than drawn here: `jax.random.choice` per step compiles a random-number
    generator, a cumulative sum and a binary search per step, which made K-means most of the
    region program's compile time.
    """
    def point(idx):  # (B,) → (B, 1, C)
        return x[jnp.arange(x.shape[0]), idx][:, None]

    centers = [point(jnp.argmax(noise[0], axis=1))]  # uniform: every D² equal
    d2 = _sqdist(x, centers[0])[..., 0]
    for i in range(1, k):  # k is a handful of regions: unrolled, no loop to compile
        centers.append(point(jnp.argmax(jnp.log(d2) + noise[i], axis=1)))  # log 0 = -inf: never a chosen point
        d2 = jnp.minimum(d2, _sqdist(x, centers[-1])[..., 0])
    centers = jnp.concatenate(centers, axis=1)  # (B, k, C)

    def lloyd(_, centers):
        onehot = _one_hot(jnp.argmin(_sqdist(x, centers), axis=-1), k)  # (B, N, K)
        counts = onehot.sum(axis=1)[..., None]
        sums = jnp.swapaxes(onehot, 1, 2) @ x
        return jnp.where(counts > 0, sums / jnp.maximum(counts, 1.0), centers)

    centers = jax.lax.fori_loop(0, iters, lloyd, centers)
    return jnp.argmin(_sqdist(x, centers), axis=-1)


def kmeans_noise(seed: int, k: int, batch: int, points: int) -> np.ndarray:
    """The Gumbel noise `kmeans_masks` seeds k-means++ with: float32 (k, batch, points), drawn on
    the host by NumPy from `seed` (no random-number program to compile)."""
    return np.random.default_rng(seed).gumbel(size=(k, batch, points)).astype(np.float32)


@functools.partial(jax.jit, static_argnames=("k", "iters"))
def _kmeans_masks(features, noise, k, iters):
    b, h, w, c = features.shape
    labels = _kmeans_labels(features.astype(jnp.float32).reshape(b, h * w, c), noise, k, iters)
    masks = _one_hot(labels, k)  # (B, N, k)
    return jnp.moveaxis(masks, -1, 1).reshape(b, k, h, w)


def kmeans_masks(features: jax.Array, k: int, seed: int = 0, iters: int = KMEANS_ITERS) -> jax.Array:
    """Paper's automatic regions: K-means of each image's encoded features into `k` clusters.

    Args:
        features: (B, h, w, C), each image clustered on its own.
        k: clusters per image.
        seed: k-means++ seeding (`kmeans_noise`); the result is deterministic for a given seed.
        iters: Lloyd iterations after the seeding.
    Returns:
        One-hot float32 masks (B, k, h, w): every position in exactly one cluster; a cluster may
        come out empty. Cluster order is arbitrary.
    """
    b, h, w, _ = features.shape
    return _kmeans_masks(features, kmeans_noise(seed, k, b, h * w), k, iters)


__all__ = [
    "DOWNSAMPLE",
    "Bank",
    "Decoder",
    "Encoder",
    "StyleBankConfig",
    "apply_bank",
    "apply_banks_per_image",
    "bank_at_zero",
    "blend_features",
    "decode",
    "encode",
    "feature_hw",
    "fuse_linear",
    "fuse_regions",
    "init",
    "init_bank",
    "kmeans_masks",
    "nbytes",
    "pad_to_multiple",
    "reconstruct",
    "region_masks_for",
    "render_all",
    "resize_masks",
    "stack_banks",
    "stylize",
    "stylize_bank",
    "stylize_per_image",
    "stylize_regions",
]
