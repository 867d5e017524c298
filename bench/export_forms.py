"""Why a deserialized StableHLO artefact runs slower than the JAX path (issue #35): the same
model, in one process, as the JAX path, as an artefact exported with symbolic sizes and as one
exported with fixed sizes, and each conv layer of the model in the form it takes under concrete
sizes (`styljax.nets.layers`' fast forms) and under symbolic ones (the reference forms).

    python -m bench.export_forms [--method cin] [--style starry-night] [--size 512] [--batch 1]
        > bench/results/export_forms.jsonl

One JSON line per case: `case` "model" (`runtime`: jax, stablehlo-symbolic-reference-forms (the
layers' forms for ONNX), stablehlo-symbolic (what `styljax export` writes), stablehlo-fixed) or
"layer" (`layer`, `form`: fast, reference), `s_per_call` (median) and `vs` (the ratio to the JAX
path / the fast form, in the same run). Ratios are what to compare on a busy machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.common import emit, log, machine_info, thread_setup, timeit_clean


def _time(fn) -> dict:
    return timeit_clean(fn, warmup=1, min_time=2.0, max_reps=10)


def model_cases(method: str, style: str, size: int, batch: int) -> None:
    import jax
    import jax.numpy as jnp
    from jax import export as jexport

    from styljax import methods
    from styljax.io import export
    from styljax.nets import layers
    from styljax.render import StyleSpec

    renderer = methods.get(method).open_renderer(None)
    spec = StyleSpec.parse(style, renderer.styles)
    params = renderer.style_params(spec)
    x = jnp.asarray(np.random.default_rng(0).random((batch, size, size, 3), np.float32))
    fn = jax.jit(lambda v: renderer.stylize_with(v, params))
    runs = {"jax": fn}
    symbolic = export.Request(method, None, style, "stablehlo", "-")
    for name, req, fast in (("stablehlo-symbolic-reference-forms", symbolic, False),
                            ("stablehlo-symbolic", symbolic, True),  # what `styljax export` writes
                            ("stablehlo-fixed", export.Request(method, None, style, "stablehlo", "-", batch, size, size),
                             True)):
        m, r, _, programs = export.load(req)
        program = programs[0]
        t0 = time.perf_counter()
        with layers.symbolic_fast_forms(fast):
            exp = jexport.export(jax.jit(program.fn), platforms=("cpu",))(
                *export.input_specs(program, req, export.min_side(m, r)))
        exp = jexport.deserialize(exp.serialize())
        log(f"{name}: exported in {time.perf_counter() - t0:.1f} s")
        runs[name] = jax.jit(exp.call)
    base = None
    want = None
    for name, f in runs.items():
        out = np.asarray(f(x))
        want = out if want is None else want
        st = _time(lambda f=f: jax.block_until_ready(f(x)))
        base = base or st["median_s"]
        emit({"kind": "case", "case": "model", "method": method, "size": size, "batch": batch, "runtime": name,
              "s_per_call": st["median_s"], "vs": st["median_s"] / base, "reps": st["reps"],
              "max_abs_diff": float(np.abs(out - want).max()), "others_cores": st["others_cores"]})


def layer_cases(size: int, batch: int) -> None:
    """The CIN net's conv layers (channels 32, 64, 128 at 1, 1/2, 1/4 scale) and the output
    layer, fast form vs the reference (symbolic) form, at concrete sizes."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    from styljax.nets import layers

    rng = np.random.default_rng(0)
    dn = ("NHWC", "HWIO", "NHWC")

    def reference(x, k, stride=1, upsample=False):
        if upsample:
            x = layers.upsample_nearest_2x(x)
        p = k.shape[0] // 2
        xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
        return lax.conv_general_dilated(xp, k, (stride, stride), "VALID", dimension_numbers=dn)

    def fast(x, k, stride=1, upsample=False):
        if upsample:
            return layers.upsample_reflect_conv(x, k)
        return layers.reflect_conv(x, k, stride=stride)

    cases = [  # name, side, in, out, kernel, stride, upsample
        ("conv1 9x9 3->32", size, 3, 32, 9, 1, False),
        ("conv2 3x3/2 32->64", size, 32, 64, 3, 2, False),
        ("conv3 3x3/2 64->128", size // 2, 64, 128, 3, 2, False),
        ("res 3x3 128->128", size // 4, 128, 128, 3, 1, False),
        ("up1 x2+3x3 128->64", size // 4, 128, 64, 3, 1, True),
        ("up2 x2+3x3 64->32", size // 2, 64, 32, 3, 1, True),
        ("out 9x9 32->3", size, 32, 3, 9, 1, False),
    ]
    for name, side, cin, cout, k, stride, up in cases:
        x = jnp.asarray(rng.random((batch, side, side, cin), np.float32))
        w = jnp.asarray(rng.normal(size=(k, k, cin, cout)).astype(np.float32) / np.sqrt(k * k * cin))
        base = None
        for form, f in (("fast", fast), ("reference", reference)):
            g = jax.jit(lambda x, w, f=f: f(x, w, stride, up))
            st = _time(lambda g=g: jax.block_until_ready(g(x, w)))
            base = base or st["median_s"]
            emit({"kind": "case", "case": "layer", "layer": name, "form": form, "size": size, "batch": batch,
                  "s_per_call": st["median_s"], "vs": st["median_s"] / base, "reps": st["reps"],
                  "others_cores": st["others_cores"]})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", default="cin")
    p.add_argument("--style", default="starry-night")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--cases", default="model,layer")
    args = p.parse_args(argv)
    threads = thread_setup(args.threads)
    emit({"kind": "header", "bench": "export_forms", **machine_info(), "threads": threads})
    if "model" in args.cases:
        model_cases(args.method, args.style, args.size, args.batch)
    if "layer" in args.cases:
        layer_cases(args.size, args.batch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
