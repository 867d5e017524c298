"""Building blocks shared by the feed-forward stylization nets (StyleBank, Johnson, CIN).

All blocks are Flax Linen modules on NHWC float images; params stay float32, `dtype` is the
computation dtype. Param names follow `nn.Conv` / `nn.InstanceNorm` (`kernel` HWIO, `bias`,
`scale`), so trees look the same as with the stock layers.

Reflection-padded convolution, and why it is not written as pad + VALID
-----------------------------------------------------------------------
The reference definition is ``conv_VALID(jnp.pad(x, k//2, "reflect"), w, stride)``. On XLA:CPU (jax 0.10)
a ``VALID`` convolution can run far slower than a ``SAME`` one of the same size (`bench/layers.py`,
BENCHMARKS.md), so this module computes the same numbers as ``crop(conv_SAME(zero_pad(reflect_pad(x, k//2)), w, stride))``: the SAME conv adds a
zero border whose outputs are cropped away. With N the padded length (made a multiple of s), SAME
pads ``lo = max(k - s, 0) // 2`` zeros in front; output j of the SAME conv then reads padded input
from ``s·j − lo − a`` where `a` extra zero rows were put in front, so choosing
``a = (−lo) mod s`` makes output ``j = (lo + a)/s + i`` equal reference output `i` exactly (same
taps, same summation). For s = 1 this is "reflect-pad k//2, SAME conv, crop k//2 each side".

Symbolic sizes (`jax.export` with symbolic height and width, `styljax.io.export`)
------------------------------------------------------------------------------
The fast forms plan their crops, gathers and block layouts from the sizes. When a spatial size is
a symbolic dimension, reflection padding is ``jnp.pad(..., "reflect")`` (its gather needs concrete
indices), and the convs and up-sampling convs take the reference forms, a ``VALID`` convolution
and nearest ×2 upsampling as broadcast + reshape, the ops ONNX converters carry through (Pad, Conv,
Reshape). Within `symbolic_fast_forms` (StableHLO export) they keep their fast forms wherever jax's
symbolic shape arithmetic can prove their plan (the nets pad sizes to a known multiple first): a
deserialized artefact compiles what was exported, and with ``VALID`` convs throughout a CIN
artefact ran ~5x slower than the JAX path on XLA:CPU (issue #35). Same values up to float rounding.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

_DN = ("NHWC", "HWIO", "NHWC")
CONV_METHODS = ("same_crop", "valid")


def is_symbolic(*dims) -> bool:
    """Whether any of `dims` is a symbolic dimension (shape-polymorphic tracing), not an int."""
    return not all(isinstance(d, (int, np.integer)) for d in dims)


def crop_hw(x: jax.Array, h, w) -> jax.Array:
    """The top-left h × w of NHWC `x`: a static slice, also for symbolic sizes (where NumPy-style
    indexing, unable to prove the bounds, would gather)."""
    return lax.slice(x, (0, 0, 0, 0), (x.shape[0], h, w, x.shape[3]))


def _valid_plan(n: int, k: int, s: int) -> tuple[int, int, int, int]:
    """For one spatial axis of an already padded length n, how a SAME conv gives the VALID conv:
    (front zeros a, back zeros b, crop start, out length)."""
    out = (n - k) // s + 1  # VALID output length
    lo = max(k - s, 0) // 2  # SAME's front padding when the input length is a multiple of s
    a = (-lo) % s
    b = (-(n + a)) % s
    start = (lo + a) // s
    if start + out > (n + a + b) // s:  # cannot happen for odd k; guard the arithmetic
        raise AssertionError(f"bad conv plan n={n} k={k} s={s}")
    return a, b, start, out


def _fast_plan(n: int, k: int, s: int) -> tuple[int, int, int, int]:
    """`_valid_plan` for an axis of length n reflect-padded by k//2 (the reference conv)."""
    return _valid_plan(n + 2 * (k // 2), k, s)


_CHUNK = 1 << 16
_TRUNC_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


@jax.jit
def _truncated_normal_chunk(key: jax.Array, index: jax.Array) -> jax.Array:
    return jax.random.truncated_normal(jax.random.fold_in(key, index), -2.0, 2.0, (_CHUNK,), jnp.float32)


def lecun_normal_chunked(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
    """Same distribution as `nn.initializers.lecun_normal()` (normal truncated at ±2σ, variance
    1/fan_in, fan_in = prod(shape[:-1])), drawn in fixed 65,536-value chunks.

    Why: XLA:CPU compiles a separate threefry kernel for every distinct shape drawn, so a stock
    init of a net with ten kernel shapes spends most of its time compiling. Fixed-size
    chunks compile once per process. A different random stream than flax's; jit-able.
    """
    n = math.prod(shape)
    fan_in = math.prod(shape[:-1]) if len(shape) > 1 else 1
    parts = [_truncated_normal_chunk(key, jnp.uint32(j)) for j in range(-(-n // _CHUNK))]
    flat = parts[0] if len(parts) == 1 else jnp.concatenate(parts)
    return (flat[:n].reshape(shape) * (1.0 / math.sqrt(fan_in) / _TRUNC_STD)).astype(dtype)


def _reflect_index(n: int, pad: int) -> np.ndarray:
    i = np.abs(np.arange(-pad, n + pad))
    while (i > n - 1).any():  # pads wider than n - 1 reflect repeatedly, like jnp.pad
        i = np.where(i > n - 1, 2 * (n - 1) - i, i)
        i = np.abs(i)
    return i


def reflect_pad(x: jax.Array, pad: int) -> jax.Array:
    """Reflection-pad the two spatial axes of NHWC `x` by `pad` (edge not repeated, like torch).

    Same values as ``jnp.pad(x, ..., mode="reflect")`` but as one gather with constant indices:
    jnp.pad's reflect mode is two concatenations, i.e. two full copies, slower on XLA:CPU at
    512 px (the backward passes cost the same).
    """
    if pad == 0:
        return x
    h, w = x.shape[1:3]
    if is_symbolic(h, w):  # the constant gather needs concrete sizes
        return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    if min(h, w) < 2:
        raise ValueError(f"reflection padding needs H, W >= 2, got {h}x{w}")
    return x[:, _reflect_index(h, pad)][:, :, _reflect_index(w, pad)]


def _valid_by_same(xp: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """VALID conv of a padded `xp` computed as a SAME conv and a crop (see the module docstring)."""
    k = kernel.shape[0]
    ah, bh, sh, oh = _valid_plan(xp.shape[1], k, stride)
    aw, bw, sw, ow = _valid_plan(xp.shape[2], k, stride)
    if ah or bh or aw or bw:
        xp = jnp.pad(xp, ((0, 0), (ah, bh), (aw, bw), (0, 0)))
    y = lax.conv_general_dilated(xp, kernel, (stride, stride), "SAME", dimension_numbers=_DN)
    return lax.slice(y, (0, sh, sw, 0), (y.shape[0], sh + oh, sw + ow, y.shape[3]))


def space_to_depth(x: jax.Array) -> jax.Array:
    """(B, 2h, 2w, C) → (B, h, w, 4C): each 2×2 block on channels, in (row, column, channel) order."""
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, h // 2, w // 2, 4 * c)


def depth_to_space(y: jax.Array, d: int) -> jax.Array:
    """(B, h, w, 4d) with output phases (a, b) on channels → (B, 2h, 2w, d); inverse of `space_to_depth`."""
    b, h, w, _ = y.shape
    return y.reshape(b, h, w, 2, 2, d).transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * w, d)


def _block_kernel(kernel: jax.Array, a: int, b: int, kb: int) -> jax.Array:
    """A k×k HWIO kernel as the kernel over `space_to_depth` blocks that gives output phase (a, b).

    Output 2i + a of a stride-1 conv reads input 2i + a + u (tap u); with v = a + u = 2m + q it is
    tap (m, q) of a conv over blocks: the kernel shifted by the phase, zero-padded to an even
    length 2·kb (≥ k + a), and split into kb block taps of 2 rows each. A stride-2 conv is phase (0, 0).
    """
    k, _, c, d = kernel.shape
    kp = jnp.pad(kernel, ((a, 2 * kb - k - a), (b, 2 * kb - k - b), (0, 0), (0, 0)))
    return kp.reshape(kb, 2, kb, 2, c, d).transpose(0, 2, 1, 3, 4, 5).reshape(kb, kb, 4 * c, d)


def _pad_to(x: jax.Array, h: int, w: int) -> jax.Array:
    """Zero-pad the bottom/right of NHWC `x` to at least (h, w) (zeros only meet zero taps)."""
    ph, pw = max(h - x.shape[1], 0), max(w - x.shape[2], 0)
    return jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0))) if ph or pw else x


def _valid_by_blocks(xp: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """VALID conv (stride 1 or 2) of a padded `xp` as a stride-1 conv over its 2×2 blocks.

    A stride-2 conv over C channels becomes a ⌈k/2⌉-tap conv over 4C (no strided access); a
    stride-1 conv of a thin input (RGB under a 9×9 kernel) computes its four output phases at
    once, a 5×5 conv from 12 channels to 4D, where the plain form contracts only k·3 channels
    per matmul. More FLOPs (zero taps), but dense matmuls: the faster form on XLA:CPU.
    """
    k, _, _, d = kernel.shape
    oh, ow = (xp.shape[1] - k) // stride + 1, (xp.shape[2] - k) // stride + 1
    phases = ((0, 0),) if stride == 2 else ((0, 0), (0, 1), (1, 0), (1, 1))
    kb = (k + 1 + (stride == 1)) // 2
    # input rows/columns the output blocks read: 2·(blocks + kb − 1) per axis
    nh, nw = 2 * (-(-oh * stride // 2) + kb - 1), 2 * (-(-ow * stride // 2) + kb - 1)
    z = space_to_depth(crop_hw(_pad_to(xp, nh, nw), nh, nw))
    kz = jnp.concatenate([_block_kernel(kernel, a, b, kb) for a, b in phases], axis=-1)
    y = _valid_by_same(z, kz, 1)
    if stride == 1:
        y = depth_to_space(y, d)
    return crop_hw(y, oh, ow)


def _patches(xp: jax.Array, k: int, stride: int, oh: int, ow: int) -> jax.Array:
    """im2col: (B, oh, ow, k·k·C), taps in HWI order."""
    span_h, span_w = stride * (oh - 1) + 1, stride * (ow - 1) + 1
    return jnp.concatenate(
        [xp[:, dy : dy + span_h : stride, dx : dx + span_w : stride] for dy in range(k) for dx in range(k)], axis=-1
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_valid(xp: jax.Array, kernel: jax.Array, stride: int = 1) -> jax.Array:
    """VALID convolution of an already padded NHWC `xp` with an HWIO `kernel` (square, any k).

    Same values as `lax.conv_general_dilated(xp, kernel, stride, "VALID")` up to float rounding,
    but each of the forward pass, the input gradient and the kernel gradient takes the form that is
    fast on XLA:CPU for its layer shape (BENCHMARKS.md, training-step profile): VALID itself is
    far off the fast path; stride-2 convs and an RGB input under a 9×9 kernel run as stride-1
    convs over 2×2 blocks (`_valid_by_blocks`); the kernel gradient of a stride-1 k ≤ 3 conv is one
    im2col matmul, and of an RGB output head the VALID form's.
    """
    if is_symbolic(*xp.shape[1:3]):
        # the fast forms where the symbolic shape arithmetic proves their plan (the nets pad sizes
        # to a known multiple), which keeps exported programs off XLA:CPU's slow VALID path
        return _symbolic_or_reference(
            lambda: _fast_forward(xp, kernel, stride),
            lambda: lax.conv_general_dilated(xp, kernel, (stride, stride), "VALID", dimension_numbers=_DN))
    return _fast_forward(xp, kernel, stride)


def _fast_forward(xp: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    k, _, c, _ = kernel.shape
    if stride == 2 or (stride == 1 and k > 1 and k * c <= 32):  # strided, or thin input (RGB under a 9×9 kernel)
        return _valid_by_blocks(xp, kernel, stride)
    return _valid_by_same(xp, kernel, stride)


_SYMBOLIC_FAST = contextvars.ContextVar("styljax_symbolic_fast_forms", default=False)


@contextlib.contextmanager
def symbolic_fast_forms(on: bool = True):
    """Within it, layers traced with symbolic sizes take their fast forms wherever the shape
    arithmetic proves them (`styljax.io.export`'s StableHLO export); outside, the reference forms,
    which the ONNX converter carries through (it mistranslates the fast forms' sliced and
    reshaped block layouts under symbolic sizes, and onnxruntime runs VALID convs well)."""
    token = _SYMBOLIC_FAST.set(on)
    try:
        yield
    finally:
        _SYMBOLIC_FAST.reset(token)


def _symbolic_or_reference(fast, reference):
    """Under symbolic sizes: `fast()` inside `symbolic_fast_forms` if its shape arithmetic is
    decidable there, else `reference()` (tracing only: a form given up leaves nothing behind)."""
    if fast is not None and _SYMBOLIC_FAST.get():
        try:
            return fast()
        except jax.errors.InconclusiveDimensionOperation:
            pass
    return reference()


def _conv_valid_fwd(xp, kernel, stride):
    return conv_valid(xp, kernel, stride), (xp, kernel)


def _conv_valid_bwd(stride, res, g):
    xp, kernel = res
    k, _, c, d = kernel.shape
    (gx,) = jax.vjp(lambda x_: _valid_by_same(x_, kernel, stride), xp)[1](g)
    if k <= 3 and stride == 1:
        patches = _patches(xp, k, stride, g.shape[1], g.shape[2])
        gk = jnp.einsum("bhwk,bhwd->kd", patches, g.astype(patches.dtype)).reshape(kernel.shape)
    elif stride == 1 and d < 8:  # thin output (an RGB head)
        (gk,) = jax.vjp(lambda k_: lax.conv_general_dilated(xp, k_, (1, 1), "VALID", dimension_numbers=_DN), kernel)[1](g)
    else:
        (gk,) = jax.vjp(lambda k_: _valid_by_same(xp, k_, stride), kernel)[1](g)
    return gx, gk.astype(kernel.dtype)


conv_valid.defvjp(_conv_valid_fwd, _conv_valid_bwd)


# Rows of the 2-tap kernels that nearest-×2 upsampling folds a 3-tap kernel into, per output phase:
# phase 0 reads (x[i-1], x[i]) with taps (W0, W1+W2), phase 1 reads (x[i], x[i+1]) with (W0+W1, W2).
_PHASE_TAPS = np.array([[[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]], np.float32)


def upsample_reflect_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """`reflect_conv(upsample_nearest_2x(x), kernel)` for a 3×3 kernel, at 4/9 of its cost.

    Each of the four output phases (row parity a, column parity b) of a 3×3 conv over a nearest-×2
    upsampled map is a 2×2 conv over the low-resolution map, whose taps are sums of the 3×3 taps
    (`_PHASE_TAPS`); the reflect border of the upsampled map is the edge border of `x`. One 2×2
    conv with the four phase kernels side by side gives all phases at once. Same values up to
    float rounding (taps are summed before multiplying).
    """
    if kernel.shape[:2] != (3, 3):
        return reflect_conv(upsample_nearest_2x(x), kernel)
    if is_symbolic(*x.shape[1:3]):
        return _symbolic_or_reference(lambda: _upsample_phases(x, kernel),
                                      lambda: reflect_conv(upsample_nearest_2x(x), kernel))
    return _upsample_phases(x, kernel)


def _upsample_phases(x: jax.Array, kernel: jax.Array) -> jax.Array:
    b, h, w, c = x.shape
    d = kernel.shape[-1]
    taps = jnp.asarray(_PHASE_TAPS, kernel.dtype)
    k2 = jnp.einsum("auy,yxio,bvx->uviabo", taps, kernel, taps).reshape(2, 2, c, 4 * d)
    xe = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    z = conv_valid(xe, k2).reshape(b, h + 1, w + 1, 2, 2, d)

    def phase(a, bb):  # z[:, a : a + h, bb : bb + w, a, bb] as a static slice (also for symbolic h, w)
        return lax.slice(z, (0, a, bb, a, bb, 0), (b, a + h, bb + w, a + 1, bb + 1, d)).reshape(b, h, w, d)

    rows = [jnp.stack([phase(a, bb) for bb in (0, 1)], axis=3) for a in (0, 1)]
    return jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w, d)


def reflect_conv(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None = None,
    stride: int = 1,
    method: str = "same_crop",
) -> jax.Array:
    """y = conv(reflect_pad(x, k//2), kernel, stride) + bias, NHWC x, HWIO kernel, odd square k.

    Output spatial size ceil(n / stride). `method="valid"` is the literal (slow on XLA:CPU)
    reference jnp.pad(reflect) + VALID; the default "same_crop" gives the same result (see module
    docstring) with the gather-based `reflect_pad` and `conv_valid`'s fast forms.
    """
    k = kernel.shape[0]
    if kernel.shape[1] != k or k % 2 != 1:
        raise ValueError(f"reflect_conv needs an odd square kernel, got {kernel.shape[:2]}")
    if method not in CONV_METHODS:
        raise ValueError(f"method must be one of {CONV_METHODS}, got {method!r}")
    if method == "valid":
        p = k // 2
        xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
        y = lax.conv_general_dilated(xp, kernel, (stride, stride), "VALID", dimension_numbers=_DN)
    else:
        y = conv_valid(reflect_pad(x, k // 2), kernel, stride)
    if bias is not None:
        y = y + bias
    return y


class ReflectConv(nn.Module):
    """Square conv with reflection padding k//2 (output size ceil(H/stride), ceil(W/stride)).

    Attributes:
      features: output channels.
      kernel: odd kernel size k.
      stride: 1 or 2 (any positive int works).
      use_bias: add a learnt bias (pointless right before an InstanceNorm, which removes it).
      dtype: computation dtype.
      method: "same_crop" (fast, default) or "valid" (reference; for tests and benchmarks).
      kernel_init: initializer of the HWIO kernel (default `lecun_normal_chunked`).
      upsample: convolve the nearest-×2 upsampled input (stride 1; `upsample_reflect_conv`).
    """

    features: int
    kernel: int
    stride: int = 1
    use_bias: bool = True
    dtype: Any = jnp.float32
    method: str = "same_crop"
    kernel_init: Any = lecun_normal_chunked
    upsample: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        w = self.param(
            "kernel", self.kernel_init, (self.kernel, self.kernel, x.shape[-1], self.features)
        )
        b = self.param("bias", nn.initializers.zeros, (self.features,)) if self.use_bias else None
        x = x.astype(self.dtype)
        w = w.astype(self.dtype)
        b = None if b is None else b.astype(self.dtype)
        if self.upsample:
            if self.stride != 1:
                raise ValueError("ReflectConv: upsample=True needs stride 1")
            if self.method == "valid":
                return reflect_conv(upsample_nearest_2x(x), w, b, 1, "valid")
            y = upsample_reflect_conv(x, w)
            return y if b is None else y + b
        return reflect_conv(x, w, b, self.stride, self.method)


def instance_norm(x: jax.Array, eps: float = 1e-5) -> jax.Array:
    """(x − μ) / sqrt(σ² + eps), μ, σ² per image and channel over H, W (biased σ², two-pass, fp32)."""
    xf = x.astype(jnp.float32)
    mean = xf.mean(axis=(1, 2), keepdims=True)
    var = jnp.square(xf - mean).mean(axis=(1, 2), keepdims=True)
    return ((xf - mean) * lax.rsqrt(var + eps)).astype(x.dtype)


class InstanceNorm(nn.Module):
    """Instance norm with learnt per-channel affine: y = γ · IN(x) + β (torch InstanceNorm2d(affine=True)).

    Statistics in float32 whatever the computation dtype. Params `scale` γ (ones), `bias` β (zeros).
    """

    eps: float = 1e-5
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (c,))
        bias = self.param("bias", nn.initializers.zeros, (c,))
        y = instance_norm(x, self.eps).astype(jnp.float32) * scale + bias
        return y.astype(self.dtype)


def upsample_nearest_2x(x: jax.Array) -> jax.Array:
    """Nearest-neighbour ×2 upsampling of NHWC `x` (each pixel becomes a 2×2 block)."""
    b, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c))
    return x.reshape(b, 2 * h, 2 * w, c)


class ConvINReLU(nn.Module):
    """ReLU(IN(ReflectConv(x))), optionally after a nearest ×2 upsample (`upsample=True`).

    The conv has no bias by default: the InstanceNorm right after it subtracts any per-channel
    constant, so a bias would be a dead parameter (IN's own β plays its role).
    """

    features: int
    kernel: int = 3
    stride: int = 1
    upsample: bool = False
    use_bias: bool = False
    relu: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.upsample and self.stride != 1:
            raise ValueError("ConvINReLU: upsample=True needs stride 1")
        x = ReflectConv(self.features, self.kernel, self.stride, self.use_bias, self.dtype, name="conv",
                        upsample=self.upsample)(x)
        x = InstanceNorm(dtype=self.dtype, name="norm")(x)
        return nn.relu(x) if self.relu else x
