"""VGG input gradients inside a `lax.fori_loop`: autodiff's conv transpose vs `styljax.nets.vgg.conv3x3`.

    python -m bench.conv_loop [--size 224] [--iters 5]

Every L-BFGS in styljax (Gatys, the Deep Image Analogy deconvolution) evaluates ∂L/∂x of a VGG
piece inside a while loop. There XLA:CPU folds autodiff's kernel transpose into the input-gradient
convolution (`dim_labels=..._01oi`) and leaves its fast path; `conv3x3` (a custom VJP with the
transposed kernel materialised behind an optimisation barrier) keeps `_01io`.

Cases: sub-network (`image→relu3_1`: VGG-16 conv1_1…conv3_1 on a size² image; `relu3_1→relu5_1`:
conv3_2…conv5_1 on its (size/4)² relu3_1 map, the deconvolution of the coarsest DIA level) ×
conv (`autodiff`: plain `lax.conv_general_dilated`; `conv3x3`) × where (`standalone`: one jitted
value-and-grad; `in_loop`: `--iters` gradient steps in one jitted fori_loop, per step). Seconds
are medians of 3 calls after compilation; random VGG-16 weights (the speed does not depend on
them). `max_abs_diff` compares the two convs' gradients.

stdout: one header JSON line, then one JSON line per case.
"""

from __future__ import annotations

import argparse
import jax
import jax.numpy as jnp

from bench.common import emit, machine_info, timeit
from styljax.nets import vgg

PIECES = {"image→relu3_1": (None, "relu3_1"), "relu3_1→relu5_1": ("relu3_1", "relu5_1")}


def _plain(x, kernel):
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def piece(params: dict, x: jax.Array, start: str | None, end: str, conv) -> jax.Array:
    """VGG-16 from after `start` (None: the image) to `end`, with `conv` for every 3x3 conv."""
    names = vgg.conv_names(16)
    first = names.index(start.replace("relu", "conv")) + 1 if start else 0
    last = names.index(end.replace("relu", "conv"))
    for name in names[first : last + 1]:
        if name.endswith("_1") and name != "conv1_1":
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        x = jax.nn.relu(conv(x, params[name]["kernel"]) + params[name]["bias"])
    return x


def _median_seconds(fn, *args) -> float:
    return timeit(lambda: jax.block_until_ready(fn(*args)), warmup=1, min_time=0.0, min_reps=3, max_reps=3)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--iters", type=int, default=5)
    args = ap.parse_args(argv)
    emit({"bench": "conv_loop", "kind": "header", **machine_info()})
    params = vgg.random_weights(16, jax.random.key(0)).params
    for name, (start, end) in PIECES.items():
        if start is None:
            x = jax.random.uniform(jax.random.key(1), (1, args.size, args.size, 3))
        else:
            x = jax.random.uniform(jax.random.key(1), (1, args.size // 4, args.size // 4, 256))
        target = piece(params, x * 0.9, start, end, _plain)
        grads = {}
        for conv_name, conv in (("autodiff", _plain), ("conv3x3", vgg.conv3x3)):
            def loss(p, x, conv=conv):
                return jnp.sum(jnp.square(piece(p, x, start, end, conv) - target))

            grad = jax.jit(jax.grad(loss, argnums=1))
            step = lambda i, x, p: x - 1e-6 * jax.grad(loss, argnums=1)(p, x)  # noqa: E731
            loop = jax.jit(lambda p, x: jax.lax.fori_loop(0, args.iters, lambda i, x: step(i, x, p), x))
            grads[conv_name] = grad(params, x)
            standalone = _median_seconds(grad, params, x)
            in_loop = _median_seconds(loop, params, x) / args.iters
            emit({"case": name, "conv": conv_name, "size": args.size, "standalone_s": standalone,
                  "in_loop_s_per_step": in_loop, "loop_slowdown": in_loop / standalone})
        diff = float(jnp.max(jnp.abs(grads["autodiff"] - grads["conv3x3"])))
        emit({"case": name, "max_abs_diff": diff, "max_abs_grad": float(jnp.max(jnp.abs(grads["autodiff"])))})


if __name__ == "__main__":
    main()
