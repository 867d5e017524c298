"""Exported models against the JAX path: onnxruntime and the deserialized StableHLO vs `styljax
stylize`'s renderer, at 512 px, batch 1 and 8 (issue #35).

    python -m bench.export_runtime [--methods cin,stylebank] [--style starry-night] [--size 512]
        [--batches 1,8] [--threads N] > bench/results/export_runtime.jsonl

Needs onnxruntime (the `dev` extra) and the ONNX converter's environment (`styljax export --setup`).
For each method: the shipped model (or `--model-<method> DIR`) is exported once per format with
symbolic sizes (`styljax.io.export`, into a temporary folder), then one JSON line per (method, batch,
runtime):
- runtime "jax": the model's `Renderer.render` (what `styljax stylize` runs; jitted per shape);
- runtime "stablehlo": `jax.export.deserialize(...).call` of the artefact (jax compiles it for the shape);
- runtime "onnxruntime": an `InferenceSession` (CPU provider, `--threads` intra-op threads).
Fields: `s_per_call` (median), `img_s`, `first_call_s` (compilation / session warm-up included),
`max_abs_diff` against the JAX path, `others_cores` (other processes' load while timing). Each
runtime gets the same `--threads` (XLA:CPU through its thread pool size flag is not settable per
call: run with `taskset` to pin both).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import emit, log, machine_info, thread_setup, timeit_clean


def _photo(size: int, batch: int) -> np.ndarray:
    from styljax.imaging import geometry
    from styljax.io.samples import skimage_image

    names = ("astronaut", "chelsea", "coffee", "rocket")
    imgs = [np.asarray(geometry.resize(skimage_image(names[i % len(names)]), (size, size)), np.float32)
            for i in range(batch)]
    return np.stack(imgs)


def run_method(method: str, model: str | None, style: str, size: int, batches: list[int], threads: int,
               tmp: Path) -> None:
    import jax
    import jax.numpy as jnp
    import onnxruntime as ort
    from jax import export as jexport

    from styljax import methods
    from styljax.io import export
    from styljax.render import StyleSpec

    paths = {}
    for fmt, suffix in (("stablehlo", ".shlo"), ("onnx", ".onnx")):
        t0 = time.perf_counter()
        req = export.Request(method=method, model=model, style=style, fmt=fmt, out=str(tmp / f"{method}{suffix}"))
        paths[fmt] = export.export(req)[0]
        log(f"{method}: exported {fmt} in {time.perf_counter() - t0:.1f} s")
    renderer = methods.get(method).open_renderer(model)
    spec = StyleSpec.parse(style, renderer.styles)
    params = renderer.style_params(spec)
    exp = jexport.deserialize(bytearray(paths["stablehlo"].read_bytes()))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(paths["onnx"]), opts, providers=["CPUExecutionProvider"])
    for batch in batches:
        x = _photo(size, batch)
        xj = jnp.asarray(x)
        runs = {
            "jax": lambda: jax.block_until_ready(renderer.render(xj, spec, params)[spec.tags[0]]),
            "stablehlo": lambda: jax.block_until_ready(exp.call(xj)),
            "onnxruntime": lambda: sess.run(None, {"image": x})[0],
        }
        want = None
        for runtime, fn in runs.items():
            t0 = time.perf_counter()
            out = np.asarray(fn())
            first = time.perf_counter() - t0
            want = out if want is None else want
            st = timeit_clean(fn, warmup=1, min_time=3.0, max_reps=20)
            emit({"kind": "case", "case": "export_runtime", "method": method, "style": style, "size": size,
                  "batch": batch, "runtime": runtime, "s_per_call": st["median_s"],
                  "img_s": batch / st["median_s"], "first_call_s": first,
                  "max_abs_diff": float(np.abs(out - want).max()), "reps": st["reps"],
                  "others_cores": st["others_cores"], "threads": threads})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", default="cin,stylebank")
    p.add_argument("--style", default="starry-night")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--batches", default="1,8")
    p.add_argument("--threads", type=int, default=None, help="threads for each runtime (default: all cores)")
    for m in ("stylebank", "cin", "johnson"):
        p.add_argument(f"--model-{m}", default=None, help=f"{m} model directory (default: the shipped one)")
    args = p.parse_args(argv)
    threads = thread_setup(args.threads)
    emit({"kind": "header", "bench": "export_runtime", **machine_info(), "threads": threads})
    batches = [int(b) for b in args.batches.split(",")]
    with tempfile.TemporaryDirectory(prefix="styljax-export-bench-") as tmp:
        for method in args.methods.split(","):
            run_method(method, getattr(args, f"model_{method}"), args.style, args.size, batches, threads, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
