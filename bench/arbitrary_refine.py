"""`add-style --method arbitrary --refine` against the predictor's one-shot vector (issue #33 item 4:
style distance at least 20% lower, in at most 30 s on 2 cores).

    python -m bench.arbitrary_refine [--paintings a,b] [--steps 30] > bench/results/arbitrary_refine.jsonl

Per painting: the predictor's vector, then the same refinement the command runs
(`styljax.optimization.arbitrary_refine.refine_vector` over 3 training photos at 192 px, the
`add-style` default), timed once compiled-and-run (`seconds`, what a user waits, compilation
included) and again (`seconds_warm`); then both vectors render the held-out photos at 512 px and
`bench.quality`'s style distance compares each output with the painting. `lower_pct` is how much
lower the refined vector's mean distance is. The refinement never sees a held-out photo.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.common import emit, log, machine_info


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--paintings", default=None, help="comma-separated painting file stems (default all)")
    p.add_argument("--steps", type=int, default=30, help="L-BFGS iterations at most (the command's default)")
    p.add_argument("--crop", type=int, default=192, help="refinement photos' side (the command's default)")
    p.add_argument("--size", type=int, default=512, help="held-out photos' longer side for the distance")
    args = p.parse_args(argv)

    import jax.numpy as jnp

    from styljax import methods
    from styljax.evaluation import metrics
    from styljax.io import image, weights
    from styljax.nets import arbitrary as ar
    from styljax.optimization.arbitrary_refine import refine_vector
    from styljax.train.configs import KODAK_HELD_OUT, WIKIPEDIA_HELD_OUT

    emit({"kind": "header", **machine_info()})
    data = Path(args.data)
    model = methods.get("arbitrary").open_renderer(None)
    vgg = weights.resolve(None)
    dist = metrics.StyleDistance(vgg)
    train = [p for p in image.list_images(data / "content" / "kodak") if p.stem not in KODAK_HELD_OUT][:3]
    photos = [image.load_image(p, size=(args.crop, args.crop)) for p in train]
    held = ([data / "content" / "kodak" / f"{n}.png" for n in KODAK_HELD_OUT]
            + [data / "content" / "wikipedia" / f"{n}.jpg" for n in WIKIPEDIA_HELD_OUT])
    held_images = [image.load_image(p, max_side=args.size) for p in held]
    paintings = sorted(image.list_images(data / "styles"))
    if args.paintings:
        paintings = [q for q in paintings if q.stem in args.paintings.split(",")]

    for painting_path in paintings:
        painting = image.load_image(painting_path, max_side=512, min_side=image.MIN_SIDE)
        vector = model.painting_vector(painting_path)
        t0 = time.perf_counter()
        refined, info = refine_vector(model.params, model.cfg, vector, photos, painting, vgg, steps=args.steps)
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        refine_vector(model.params, model.cfg, vector, photos, painting, vgg, steps=args.steps)
        seconds_warm = time.perf_counter() - t0
        target = dist.grams(painting)
        means = {}
        for name, v in (("predicted", vector), ("refined", refined)):
            d = [dist.distance(np.asarray(ar.transform(model.params, jnp.asarray(x)[None], jnp.asarray(v), model.cfg,
                                                       clip=True))[0], target) for x in held_images]
            means[name] = float(np.mean(d))
        lower = 100 * (1 - means["refined"] / means["predicted"])
        emit({"kind": "case", "painting": painting_path.stem, "steps": info["steps"], "seconds": seconds,
              "seconds_warm": seconds_warm, "loss_before": info["loss_before"], "loss_after": info["loss_after"],
              "distance_predicted": means["predicted"], "distance_refined": means["refined"], "lower_pct": lower,
              "held_out_photos": len(held_images), "refine_photos": [p.name for p in train]})
        log(f"{painting_path.stem}: {means['predicted']:.3f} -> {means['refined']:.3f} ({lower:+.0f}%), "
            f"{seconds:.1f} s ({seconds_warm:.1f} s warm)")


if __name__ == "__main__":
    main()
