"""Texture networks (Ulyanov, Lebedev, Vedaldi, Lempitsky — ICML 2016), with the instance norm of
the follow-up (Ulyanov, Vedaldi, Lempitsky 2016, "Instance Normalization: The Missing Ingredient").

A multi-scale generator: the photo, downsampled to K scales (1, 1/2, ..., 1/2^(K-1)), each
concatenated with a noise image, goes through a block of three convolutions (3×3, 3×3, 1×1, each
with a norm and a leaky ReLU); from the coarsest scale up, the running result is upsampled ×2
(nearest), both it and the finer scale's block are normalised and concatenated (the "join"), and
a block of three convolutions follows. A final 1×1 convolution gives the RGB output (sigmoid).
Channels: `channels` per scale, so the joined width grows by `channels` at every scale.

Every norm is conditional (γ/β per style, `styljax.nets.transform.conditional_instance_norm`), so
the net is a member of the transform-net family: the same params layout ({"net", "styles"}), the
same strength, mix, region and render-all functions (`styljax.nets.transform`, which builds the
net from its config's `network()`), the same task, store layout and renderer. The paper trains
one net per style; a style's γ/β of its own makes a second painting cost only those.

The noise is a fixed image (seed `noise_seed`) shared by every image of a batch: the output is a
deterministic function of (params, photo), so per-image, batched and tiled renderings agree and
the net can be exported. The paper samples it anew each pass for variety; at stylization time
its authors note the noise matters little once the photo is an input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from styljax.nets.layers import ReflectConv, crop_hw
from styljax.nets.transform import conditional_instance_norm


@dataclasses.dataclass(frozen=True)
class TextureNetConfig:
    """Architecture of a texture network (hashable: a static jit argument).

    Attributes:
      scales: K, the number of scales (the photo's sides are padded to multiples of 2^(K-1)).
      channels: channels of each scale's blocks (the paper's 8).
      noise_channels: channels of the noise image concatenated at each scale.
      noise_seed: the seed of that fixed noise.
      output: "sigmoid" (the only one; the transform family's configs name theirs).
      restore_tone: a strength toward the neutral style moves each channel's mean and spread toward
        the photo's by 1 − s (`styljax.nets.strength.restore_tone`).
      dtype: computation dtype (params and norm statistics stay float32).
    """

    scales: int = 5
    channels: int = 8
    noise_channels: int = 3
    noise_seed: int = 0
    output: str = "sigmoid"
    restore_tone: bool = False
    dtype: Any = jnp.float32

    def __post_init__(self):
        object.__setattr__(self, "dtype", jnp.dtype(self.dtype).type)
        if self.scales < 1 or self.channels < 1 or self.noise_channels < 0:
            raise ValueError(f"need scales >= 1, channels >= 1, noise_channels >= 0; got {self}")
        if self.output != "sigmoid":
            raise ValueError(f"a texture net's output is 'sigmoid', got {self.output!r}")

    @property
    def size_multiple(self) -> int:
        """Sides are padded to multiples of this (the coarsest scale is 1/2^(K-1))."""
        return 2 ** (self.scales - 1)

    def network(self) -> TextureNet:
        return TextureNet(self)

    def norm_channels(self) -> dict[str, int]:
        """{norm name: channels} of every conditional instance norm, in network order."""
        c = self.channels
        names: dict[str, int] = {}
        for k in range(self.scales - 1, -1, -1):
            names.update({f"s{k}_{j}": c for j in range(3)})
        for k in range(self.scales - 2, -1, -1):
            width = c * (self.scales - k)  # the coarser result's channels + this scale's
            names[f"join{k}_up"] = width - c
            names[f"join{k}_in"] = c
            names.update({f"join{k}_{j}": width for j in range(3)})
        return names


_THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def fixed_noise(seed: int, h, w, channels: int) -> jax.Array:
    """`jax.random.uniform(jax.random.key(seed), (1, h, w, channels))`, bit for bit, written out as
    uint32 arithmetic: Threefry-2x32 (20 rounds) of each element's flat index (jax's
    partitionable random bits, its default), the top 23 bits as the mantissa of a float in [0, 1).

    Why not call jax.random: the exported programs (`styljax export`) take symbolic sizes, and the
    ONNX converter turns `random_bits` into ONNX's RandomUniform, a different (unseeded) noise;
    these ops (iota, add, shifts, xor, a convert) carry over to both formats exactly.
    """
    n = h * w * channels  # < 2**32: the flat index's high word is 0
    lo = lax.iota(jnp.uint32, n).reshape(1, h, w, channels)
    k1, k2 = (seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF
    ks = [jnp.uint32(k1), jnp.uint32(k2), jnp.uint32(k1 ^ k2 ^ 0x1BD11BDA)]
    x0, x1 = jnp.zeros_like(lo) + ks[0], lo + ks[1]
    for i in range(5):
        for r in _THREEFRY_ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = x0 ^ ((x1 << jnp.uint32(r)) | (x1 >> jnp.uint32(32 - r)))
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + jnp.uint32(i + 1)
    bits = x0 ^ x1
    # (bits >> 9) · 2⁻²³ is the float jax makes by setting those bits as the mantissa of 1.0 and
    # subtracting 1: exact in float32
    return (bits >> jnp.uint32(9)).astype(jnp.float32) * jnp.float32(2.0**-23)


class TextureNet(nn.Module):
    """RGB [0, 1] (B, H, W, 3), H and W multiples of `size_multiple` → stylized (B, H, W, 3), given
    one style's γ/β tree (`TextureNetConfig.norm_channels`)."""

    cfg: TextureNetConfig

    @nn.compact
    def __call__(self, x: jax.Array, style: Mapping[str, Any], masks: jax.Array | None = None) -> jax.Array:
        cfg = self.cfg
        dt = cfg.dtype

        def norm(y, name, relu=True):
            y = conditional_instance_norm(y, style[name], masks)
            return nn.leaky_relu(y, 0.01) if relu else y

        def block(y, prefix, width):
            for j, k in enumerate((3, 3, 1)):
                y = norm(ReflectConv(width, k, use_bias=False, dtype=dt, name=f"{prefix}_{j}")(y), f"{prefix}_{j}")
            return y

        b, h, w, _ = x.shape
        noise = fixed_noise(cfg.noise_seed, h, w, cfg.noise_channels)
        y = None
        for k in range(cfg.scales - 1, -1, -1):
            f = 2**k
            scaled = x.reshape(b, h // f, f, w // f, f, 3).mean(axis=(2, 4))  # box-filter downsampling
            z = jnp.broadcast_to(crop_hw(noise, h // f, w // f), (b, h // f, w // f, cfg.noise_channels))
            branch = block(jnp.concatenate([scaled, z], -1).astype(dt), f"s{k}", cfg.channels)
            if y is None:
                y = branch
                continue
            up = jnp.repeat(jnp.repeat(y, 2, axis=1), 2, axis=2)  # nearest ×2
            y = jnp.concatenate([norm(up, f"join{k}_up", relu=False), norm(branch, f"join{k}_in", relu=False)], -1)
            y = block(y, f"join{k}", y.shape[-1])
        out = nn.Conv(3, (1, 1), dtype=dt, name="out")(y)
        return jax.nn.sigmoid(out.astype(jnp.float32))
