"""`add-style --method arbitrary --refine` against the predictor's one-shot vector (issue #33 item 4:
style distance at least 20% lower, in at most 30 s on 2 cores).

    python -m bench.arbitrary_refine [--paintings a,b] [--steps 20] [--crop 160] [--lr 0.03] \\
        > bench/results/arbitrary_refine.jsonl

Per painting: the predictor's vector, then the same refinement the command runs by default
(`styljax.optimization.arbitrary_refine`: its `RefineConfig` on `default_photos()`, scikit-image's
astronaut and chelsea, never a held-out photo), timed once from a cold start of the compiled program
(`seconds`, `cpu_seconds`: what a user waits, compilation and the painting's Grams included, the
persistent compilation cache off) and again (`seconds_warm`, `cpu_seconds_warm`: compiled); then
both vectors render the 12 held-out photos at 512 px and `bench.quality`'s style distance
(`styljax.evaluation.metrics.StyleDistance`) compares each output with the painting. `lower_pct` is
how much lower the refined vector's mean distance is; `structure_*` is the mean `structure_kept`
(the photo kept), which the refinement should not give up for style.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import time
from pathlib import Path

import numpy as np

from bench.common import emit, log, machine_info
from bench.quality import photo_path


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--paintings", default=None, help="comma-separated painting file stems (default all)")
    p.add_argument("--steps", type=int, default=None, help="Adam steps (default: the command's)")
    p.add_argument("--crop", type=int, default=None, help="refinement crops' side, px (default: the command's)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the command's)")
    p.add_argument("--size", type=int, default=512, help="held-out photos' longer side for the distance")
    args = p.parse_args(argv)

    import jax
    import jax.numpy as jnp

    from styljax import methods
    from styljax.evaluation import metrics
    from styljax.io import image, weights
    from styljax.nets import arbitrary as ar
    from styljax.optimization import arbitrary_refine as refine
    from styljax.train.configs import HELD_OUT

    rcfg = refine.RefineConfig().overriding(steps=args.steps, crop=args.crop, learning_rate=args.lr)
    emit({"kind": "header", **machine_info(), "refine": dataclasses.asdict(rcfg),
          "refine_photos": list(refine.DEFAULT_PHOTOS)})
    data = Path(args.data)
    model = methods.get("arbitrary").open_renderer(None)
    vgg = weights.resolve(None)
    dist = metrics.StyleDistance(vgg)
    photos = refine.refine_photos(refine.default_photos(), rcfg)
    held_images = [image.load_image(photo_path(data, stem), max_side=args.size) for stem in HELD_OUT]
    paintings = sorted(image.list_images(data / "styles"))
    if args.paintings:
        paintings = [q for q in paintings if q.stem in args.paintings.split(",")]
    render = jax.jit(lambda v, x: ar.transform(model.params, x[None], v, model.cfg, clip=True)[0])

    for painting_path in paintings:
        painting = image.load_image(painting_path, max_side=512, min_side=image.MIN_SIDE)
        vector = model.painting_vector(painting_path)
        refine._program.cache_clear()  # a fresh process compiles the refinement: so does the first run
        jax.clear_caches()
        t0, c0 = time.perf_counter(), _cpu()
        refined, info = refine.refine_vector(model.params, model.cfg, vector, photos, painting, vgg, rcfg)
        seconds, cpu = time.perf_counter() - t0, _cpu() - c0
        t0, c0 = time.perf_counter(), _cpu()
        refine.refine_vector(model.params, model.cfg, vector, photos, painting, vgg, rcfg)
        seconds_warm, cpu_warm = time.perf_counter() - t0, _cpu() - c0
        target = dist.grams(painting)
        means = {}
        for name, v in (("predicted", vector), ("refined", refined)):
            outs = [np.asarray(render(jnp.asarray(v), jnp.asarray(x))) for x in held_images]
            means[name] = float(np.mean([dist.distance(o, target) for o in outs]))
            means[f"structure_{name}"] = float(np.mean([metrics.structure_kept(o, x) for o, x in zip(outs, held_images)]))
        lower = 100 * (1 - means["refined"] / means["predicted"])
        emit({"kind": "case", "painting": painting_path.stem, "evaluations": info["evaluations"],
              "seconds": seconds, "cpu_seconds": cpu, "seconds_warm": seconds_warm, "cpu_seconds_warm": cpu_warm,
              "loss_before": info["loss_before"], "loss_after": info["loss_after"],
              "distance_predicted": means["predicted"], "distance_refined": means["refined"], "lower_pct": lower,
              "structure_predicted": means["structure_predicted"], "structure_refined": means["structure_refined"],
              "held_out_photos": len(held_images), "refine_photos": list(refine.DEFAULT_PHOTOS)})
        log(f"{painting_path.stem}: {means['predicted']:.3f} -> {means['refined']:.3f} ({lower:+.0f}%), "
            f"{seconds:.1f} s ({seconds_warm:.1f} s warm), {info['evaluations']} evaluations")


if __name__ == "__main__":
    main()
