"""PatchMatch vs brute force on deep features: seconds, and how close to the optimum per iteration.

    python -m bench.patchmatch [--sizes 32,64,128] [--channels 64,256,512] [--iters 1,2,4,6,10]
                               [--time-iters 10] [--patch-size 3] [--features auto|vgg|random]

Cases: square map size S (A and B both S x S) x channel count C. Features are real VGG-16
activations when the weights are there (`styljax weights fetch`; `--features auto` falls back to
random ones otherwise): C = 64, 128, 256, 512 is relu1_1, relu2_1, relu3_1, relu4_1 (the Deep
Image Analogy layers) of an image of S·2^(block−1) px, so the layer's map is S x S. A is
scikit-image's *chelsea* (squashed to a square), B the same photo mirrored left-right and zoomed
1.25x: a pair with real correspondences, as in the paper. Random features (any C) are
independent unit-normal noise for A and B, blurred by three 3x3 box filters.

Per case: `exact_nnf` (brute force, blocked matmul) and `patchmatch` at `--time-iters`
iterations, timed after compilation (`timeit_clean`: median of >= 3 calls and >= `--min-time`
s), plus for each of `--iters` one run (`single_s`, one call after compilation) and its quality.
Quality is in similarity, sim = −distance = mean over valid patch pixels of F̄_A·F̄_B (in [0, 1]
for ReLU features, higher is better): `sim_ratio` = mean sim(patchmatch) / mean sim(exact)
(1 = optimal), `frac_exact` = fraction of pixels whose match is the brute-force one (ties
aside). Random search and propagation use key 0.

With `--dia-sizes` (e.g. 224,448) it instead times the maps Deep Image Analogy really matches:
for an input of each size, VGG-16 relu5_1 … relu1_1 of the same pair, both terms (a2 = A, b2 = B:
twice the channels, as DIA's A/B + A′/B′ sum), DIA's patch size and search radius per level
(`AnalogyConfig`), `--time-iters` iterations. `exact_nnf` and `patchmatch` are each run once after
compilation (the big maps take minutes) and `picked` is what `patchmatch.nnf_method` chooses.

stdout: one header JSON line, then one JSON line per case. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from bench.common import compile_jax, emit, log, machine_info, timeit_clean
from styljax.imaging import geometry
from styljax.optimization import patchmatch as pm

VGG_LAYERS = {64: ("relu1_1", 1), 128: ("relu2_1", 2), 256: ("relu3_1", 4), 512: ("relu4_1", 8)}


def _image_pair(size: int) -> np.ndarray:
    """(2, size, size, 3): chelsea, and chelsea mirrored and zoomed 1.25x about the centre."""
    import skimage.data

    cat = np.asarray(skimage.data.chelsea(), np.float32) / 255.0
    h, w = cat.shape[:2]
    dh, dw = round(h * 0.1), round(w * 0.1)
    zoomed = cat[dh : h - dh, dw : w - dw, :][:, ::-1]
    return np.stack([np.asarray(geometry.resize(x, (size, size))) for x in (cat, zoomed)])


def vgg_features(vgg, size: int, channels: int) -> tuple[np.ndarray, np.ndarray, str]:
    from styljax.nets.vgg import features

    layer, scale = VGG_LAYERS[channels]
    out = features(vgg, jnp.asarray(_image_pair(size * scale)), (layer,))[layer]
    return np.asarray(out[0]), np.asarray(out[1]), f"vgg16 {layer}"


def random_features(size: int, channels: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    maps = np.random.default_rng(seed).standard_normal((2, size, size, channels)).astype(np.float32)
    for _ in range(3):
        maps = sum(np.roll(maps, (dy, dx), axis=(1, 2)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    return maps[0], maps[1], "random smooth"


def _once(fn, *args) -> tuple[object, float, float]:
    """(result, seconds of one call after compilation, compile seconds)."""
    compiled, compile_s = compile_jax(fn, *args)
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return out, time.perf_counter() - t0, compile_s


def dia_levels(sizes: list[int], args) -> None:
    """exact_nnf vs patchmatch on each DIA level's map, at DIA's settings, for inputs of `sizes` px."""
    from styljax.io import weights
    from styljax.optimization import analogy
    from styljax.nets.vgg import features

    vgg = weights.resolve(None)
    cfg = analogy.AnalogyConfig(iters=args.time_iters)
    key = jax.random.key(args.seed)
    for size in sizes:
        maps = features(vgg, jnp.asarray(_image_pair(size)), analogy.LEVELS)
        for level, layer in enumerate(analogy.LEVELS):
            a, b = maps[layer][0], maps[layer][1]
            p, radius = cfg.patch_sizes[level], cfg.radii[level]
            hw, c = a.shape[:2], 2 * a.shape[-1]
            picked = pm.nnf_method(hw, hw, c, p, cfg.iters, radius)
            log(f"{size}px {layer} {hw} C={c} p={p} radius={radius}: patchmatch ...")
            run = lambda a, b, key: pm.patchmatch(a, b, a2=a, b2=b, patch_size=p, iters=cfg.iters, radius=radius,
                                                  key=key)
            nnf, pm_s, pm_compile = _once(run, a, b, key)
            log(f"  patchmatch {pm_s:.2f} s; exact_nnf ...")
            exact, ex_s, ex_compile = _once(lambda a, b: pm.exact_nnf(a, b, a2=a, b2=b, patch_size=p), a, b)
            sim = lambda n: -float(pm.patch_distance(a, b, n, p, a, b).mean())
            emit({"kind": "dia_level", "bench": "patchmatch", "input": size, "layer": layer, "map": list(hw),
                  "channels": c, "patch_size": p, "radius": radius, "iters": cfg.iters,
                  "pm_s": pm_s, "exact_s": ex_s, "exact_over_pm": ex_s / pm_s,
                  "pm_compile_s": pm_compile, "exact_compile_s": ex_compile,
                  "sim_ratio": sim(nnf) / sim(exact),
                  "frac_exact": float(np.mean(np.all(np.asarray(nnf) == np.asarray(exact), -1))),
                  "faster": "exact" if ex_s < pm_s else "patchmatch", "picked": picked})
            log(f"  exact {ex_s:.2f} s; picked {picked}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="32,64,128")
    ap.add_argument("--channels", default="64,256,512")
    ap.add_argument("--iters", default="1,2,4,6,10", help="iteration counts whose quality is reported")
    ap.add_argument("--time-iters", type=int, default=10, help="iterations of the timed patchmatch")
    ap.add_argument("--patch-size", type=int, default=3)
    ap.add_argument("--features", choices=("auto", "vgg", "random"), default="auto")
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--max-idle-wait", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dia-sizes", default=None, help="input sizes for the per-level DIA cases (e.g. 224,448)")
    args = ap.parse_args(argv)
    if args.dia_sizes:
        emit({"bench": "patchmatch", **machine_info()})
        dia_levels([int(s) for s in args.dia_sizes.split(",")], args)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    channels = [int(c) for c in args.channels.split(",")]
    iters_list = [int(i) for i in args.iters.split(",")]
    timing = dict(warmup=1, min_time=args.min_time, min_reps=3, max_reps=20, idle_wait=args.max_idle_wait)

    emit({"bench": "patchmatch", **machine_info()})
    vgg = None
    if args.features != "random":
        from styljax.io import weights

        try:
            vgg = weights.resolve(None)
        except Exception as e:  # noqa: BLE001 - any failure to load means "no real weights"
            if args.features == "vgg":
                raise
            log(f"no VGG weights ({e}); using random features")
    key = jax.random.key(args.seed)
    p = args.patch_size
    t_start = time.perf_counter()

    for size in sizes:
        for c in channels:
            if vgg is not None and c in VGG_LAYERS:
                a, b, source = vgg_features(vgg, size, c)
            else:
                a, b, source = random_features(size, c, args.seed)
            a, b = jnp.asarray(a), jnp.asarray(b)
            case = f"{size}x{size} C={c} {source}"
            log(f"[{time.perf_counter() - t_start:7.1f}s] {case}: exact_nnf ...")

            exact_fn, exact_compile = compile_jax(lambda a, b: pm.exact_nnf(a, b, patch_size=p), a, b)
            exact = exact_fn(a, b)
            ex = timeit_clean(lambda: jax.block_until_ready(exact_fn(a, b)), **timing)
            sim_exact = -float(pm.patch_distance(a, b, exact, p).mean())

            def quality(nnf):
                sim = -float(pm.patch_distance(a, b, nnf, p).mean())
                return sim, sim / sim_exact, float(np.mean(np.all(np.asarray(nnf) == np.asarray(exact), -1)))

            by_iters, waited = [], ex["waited_s"]
            for iters in sorted(set(iters_list) | {args.time_iters}):
                log(f"[{time.perf_counter() - t_start:7.1f}s] {case}: patchmatch, {iters} iterations ...")
                run = lambda a, b, key, iters=iters: pm.patchmatch(a, b, patch_size=p, iters=iters, key=key)
                pm_fn, pm_compile = compile_jax(run, a, b, key)
                jax.block_until_ready(pm_fn(a, b, key))
                t0 = time.perf_counter()
                nnf = jax.block_until_ready(pm_fn(a, b, key))
                single = time.perf_counter() - t0
                sim, ratio, frac = quality(nnf)
                row = dict(iters=iters, sim=sim, sim_ratio=ratio, frac_exact=frac, single_s=single,
                           compile_s=pm_compile)
                if iters == args.time_iters:
                    st = timeit_clean(lambda: jax.block_until_ready(pm_fn(a, b, key)), **timing)
                    timed, waited = dict(row, **st), waited + st["waited_s"]
                if iters in iters_list:
                    by_iters.append(row)

            emit({
                "kind": "case", "bench": "patchmatch", "size": size, "channels": c, "features": source,
                "patch_size": p, "iters": args.time_iters,
                "pm_s": timed["median_s"], "pm_min_s": timed["min_s"], "pm_reps": timed["reps"],
                "pm_compile_s": timed["compile_s"], "pm_others_cores": timed["others_cores"],
                "exact_s": ex["median_s"], "exact_min_s": ex["min_s"], "exact_reps": ex["reps"],
                "exact_compile_s": exact_compile, "exact_others_cores": ex["others_cores"],
                "exact_over_pm": ex["median_s"] / timed["median_s"],
                "sim_exact": sim_exact, "sim_pm": timed["sim"], "sim_ratio": timed["sim_ratio"],
                "frac_exact": timed["frac_exact"], "by_iters": by_iters, "waited_for_idle_s": waited,
            })
    log(f"done in {time.perf_counter() - t_start:.1f}s")


if __name__ == "__main__":
    main()
