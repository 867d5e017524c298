"""CIN's streaks against the γ/β of its residual blocks' first norms (issue #31, item 4).

    python -m bench.cin_streaks [--model checkpoints/cin] [--photos kodim21,...] [--styles the-scream,wave]
        [--alphas 1,0.75,0.5,0.25,0] [--size 512] [--data ../shared/data] > bench/results/cin_streaks.jsonl
    python -m bench.cin_streaks --write OUT --amounts the-scream:0.5     # a candidate model, no rendering

Per (photo, style, α): the style's γ/β of `transform.RESIDUAL_FIRST_NORMS` (res1a..res5a) moved
toward the model's `identity` style (`transform.toward_in`, α = 1 the shipped style, 0 the
identity's), rendered at `--size` px, scored with `styljax.evaluation.metrics` (structure, style distance
to the painting at 384 px, and the artefact terms streaks / blotches / periodic). One JSON line
each. `--write` saves a copy of the model with the named styles' first norms moved by their α
(the others as shipped) for `python -m bench.quality --methods cin --model-cin OUT`.
Photos default to the held-out ones (`styljax.train.configs.HELD_OUT`); they are for looking and
measuring only, never for training.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.common import emit, log
from styljax.train import configs


def parse_amounts(text: str) -> dict[str, float]:
    out = {}
    for part in filter(None, text.split(",")):
        name, _, a = part.partition(":")
        out[name] = float(a)
    return out


def damped(params: dict, style: str, alpha: float) -> dict:
    from styljax.nets import transform as tr

    neutral = tr.neutral_style(params)
    if neutral is None:
        raise SystemExit("bench.cin_streaks: the model has no identity style to move toward")
    return tr.toward_in(params["styles"][style], neutral, {n: alpha for n in tr.RESIDUAL_FIRST_NORMS})


def write(model: str, out: str, amounts: dict[str, float]) -> None:
    from styljax.stores import transform_store

    params, cfg, manifest = transform_store.load_model(model)
    styles = {k: (damped(params, k, amounts[k]) if k in amounts else v) for k, v in params["styles"].items()}
    meta = {k: v for k, v in manifest.items() if k not in ("format", "config", "net_sha256")}
    # the training record stays as it was; this step is recorded beside it
    meta["provenance"] = {**manifest.get("provenance", {}), "residual_first_norms_toward_identity": {
        "amounts": amounts, "derived_from": model,
        "command": f"python -m bench.cin_streaks --write {out} --amounts " + ",".join(f"{k}:{v}" for k, v in amounts.items())}}
    transform_store.save_model(out, {"net": params["net"], "styles": styles}, cfg, meta)
    log(f"wrote {out}: {amounts}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="checkpoints/cin")
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--photos", default=",".join(configs.HELD_OUT))
    p.add_argument("--styles", default="the-scream,wave,starry-night")
    p.add_argument("--alphas", default="1,0.75,0.5,0.25,0")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--write", default=None, help="write a model with --amounts applied, then stop")
    p.add_argument("--amounts", default="the-scream:0.5", help="style:alpha,... for --write")
    args = p.parse_args(argv)
    if args.write:
        write(args.model, args.write, parse_amounts(args.amounts))
        return

    import jax.numpy as jnp

    from bench.quality import painting_paths, photo_path
    from styljax.evaluation import metrics
    from styljax.io import image, weights
    from styljax.nets import transform as tr
    from styljax.stores import transform_store

    params, cfg, _ = transform_store.load_model(args.model)
    data = Path(args.data)
    paintings = painting_paths(data)
    styles = args.styles.split(",")
    sd = metrics.StyleDistance(weights.load_default())
    grams = {s: sd.grams(image.load_image(paintings[s], max_side=1024)) for s in styles}
    alphas = [float(a) for a in args.alphas.split(",")]
    emit({"bench": "cin_streaks", "model": args.model, "size": args.size, "styles": styles, "alphas": alphas,
          "norms": list(tr.RESIDUAL_FIRST_NORMS)})
    for stem in args.photos.split(","):
        x = image.load_image(photo_path(data, stem), max_side=args.size)
        for style in styles:
            for a in alphas:
                out = tr.stylize_with(params, jnp.asarray(x[None]), damped(params, style, a), cfg, clip=True)
                out = np.asarray(out[0])
                rec = {"kind": "result", "photo": stem, "style": style, "alpha": a,
                       "structure": metrics.structure_kept(out, x), "style_distance": sd.distance(out, grams[style]),
                       **metrics.artefact_terms(out, x)}
                emit(rec)
                log(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in rec.items()}))


if __name__ == "__main__":
    main()
