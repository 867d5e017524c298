"""Which strength mode for CIN/Johnson models, with and without an `identity` style (issue #19)?

    python -m bench.strength [--size 256] [--photos astronaut,chelsea,coffee] [--sigma 1.5] [--cin-model DIR] > bench/results/strength.jsonl
    python -m bench.report strength bench/results/strength.jsonl

Two candidates for strength s < 1 on a transform net:
- gamma-beta: γ/β interpolated toward the model's reserved `identity` style (γ/β trained on the
  content terms alone; `neutral: "identity"`), or, for a model without one, toward the "neutral"
  set γ = 1, β = 0 (plain IN, never seen in training; `neutral: "plain"`); s = 0 renders with it;
- pixel: O = s·O_style + (1 − s)·I, s = 0 is the photo itself.
One JSON line per (model, style, photo, s, mode): `structure`, the correlation of the Sobel edge
maps of the blurred luminance of the output and of the photo (`styljax.evaluation.metrics.structure_kept`:
1 = the photo's edges), and `l1_photo`, the mean |O − I|. The γ/β path is
worth having only if its s = 0 end reproduces the photo's structure (it cannot beat pixel fading,
whose s = 0 end *is* the photo, but it should come close, and be at least as faithful in between).
"""

from __future__ import annotations

import argparse
import jax
import jax.numpy as jnp
import numpy as np

from bench.common import emit, log
from styljax import methods
from styljax.evaluation import metrics
from styljax.io import image
from styljax.imaging import geometry
from styljax.io import atomic
from styljax.nets import strength as st
from styljax.nets import transform as tr
from styljax.stores import transform_store
from styljax.io.samples import skimage_image

STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--photos", default="astronaut,chelsea,coffee", help="scikit-image data names")
    p.add_argument("--models", default="cin,johnson,stylebank")
    p.add_argument("--sigma", type=float, default=1.5, help="blur before the edge maps, px")
    p.add_argument("--cin-model", default=None, help="CIN model directory (default: the shipped one)")
    p.add_argument("--johnson-model", default=None, help="Johnson model directory (default: the shipped one)")
    p.add_argument("--stylebank-model", default=None, help="StyleBank model directory (default: the shipped one)")
    p.add_argument("--curves", action="store_true",
                   help="instead: the strength and mix curves of every model (style distance to the full style / "
                        "to each end of the mix, structure), issue #34")
    p.add_argument("--pair", default="starry-night,the-scream", help="the two styles of the mix curve")
    p.add_argument("--knots", action="store_true",
                   help="instead: measure the StyleBank model's strength curve (Gram distance to the full style, "
                        "every style, these photos) and write its evening-out knots into its manifest")
    args = p.parse_args(argv)
    photos = {}
    for n in args.photos.split(","):
        img = skimage_image(n)
        photos[n] = np.asarray(geometry.resize(img, image.fit_max_side(*img.shape[:2], args.size)))
    if args.curves:
        return curves(args, photos)
    if args.knots:
        return write_knots(args, photos)
    for method in args.models.split(","):
        if method == "stylebank":
            stylebank_rows(photos, args.sigma)
            continue
        params, cfg, _ = transform_store.load_model(getattr(args, f"{method}_model") or methods.get(method).default_model_path())
        # the model's reserved identity style if it has one (what `--strength` uses), else γ = 1, β = 0
        identity = tr.neutral_style(params)
        neutral, neutral_name = (identity, "identity") if identity is not None else (tr.init_style(cfg), "plain")
        for style in sorted(set(params["styles"]) - {st.IDENTITY_STYLE}):
            for pname, photo in photos.items():
                x = jnp.asarray(photo)[None]
                for s in STRENGTHS:
                    for mode, nt in (("gamma-beta", neutral), ("pixel", None)):
                        out = tr.stylize_with(params, x, params["styles"][style], cfg, clip=True,
                                              strength=jnp.float32(s), neutral=nt)
                        emit({"case": "strength", "model": method, "style": style, "photo": pname,
                              "strength": s, "mode": mode, "sigma": args.sigma,
                              "neutral": neutral_name if mode == "gamma-beta" else None,
                              "structure": float(metrics.structure_kept(np.asarray(out[0]), np.asarray(x[0]), args.sigma)),
                              "l1_photo": float(jnp.abs(out[0] - x[0]).mean())})
                log(f"{method} {style} {pname}")
    jax.effects_barrier()
    return 0


def stylebank_rows(photos: dict, sigma: float) -> None:
    """The same measure for StyleBank's feature blend (its natural control), against pixel fading."""
    from styljax.nets import stylebank as sb
    from styljax.stores import stylebank_store

    params, cfg, _ = stylebank_store.load_model(methods.get("stylebank").default_model_path())
    for style in sorted(params["banks"]):
        for pname, photo in photos.items():
            x = jnp.asarray(photo)[None]
            full = sb.stylize(params, x, style, cfg, clip=True)
            for s in STRENGTHS:
                outs = {"features": sb.stylize(params, x, style, cfg, clip=True, strength=jnp.float32(s)),
                        "pixel": st.pixel_blend(full, x, s)}
                for mode, out in outs.items():
                    emit({"case": "strength", "model": "stylebank", "style": style, "photo": pname,
                          "strength": s, "mode": mode, "sigma": sigma,
                          "structure": float(metrics.structure_kept(np.asarray(out[0]), np.asarray(x[0]), sigma)),
                          "l1_photo": float(jnp.abs(out[0] - x[0]).mean())})
            log(f"stylebank {style} {pname}")


def curves(args, photos: dict) -> int:
    """Does the look move steadily? For s (or the mix weight w of `--pair` a:w,b:1−w) in 0..1:
    `to_full` / `to_a`, `to_b`, the relative Gram distance (`metrics.StyleDistance`) of the output
    to the full-style output (or to the pure a and pure b outputs) of the same photo, and
    `structure`. Renders through each model's renderer, as the CLI and the service do."""
    from styljax.io import weights
    from styljax.render import StyleSpec

    dist = metrics.StyleDistance(weights.resolve(None))
    a, b = args.pair.split(",")
    for method in args.models.split(","):
        r = methods.get(method).open_renderer(getattr(args, f"{method}_model"))
        if a not in r.styles or b not in r.styles:
            log(f"{method}: no {a} and {b}; skipped")
            continue
        for pname, photo in photos.items():
            x = jnp.asarray(photo)[None]

            def run(spec: str, s: float | None = None) -> np.ndarray:
                out = r.render(x, StyleSpec.parse(spec, r.styles, strength=s))
                return np.asarray(next(iter(out.values()))[0])

            for style in (a, b):
                full = dist.grams(run(style))
                for s in STRENGTHS:
                    out = run(style, s)
                    emit({"case": "strength_curve", "model": method, "style": style, "photo": pname, "strength": s,
                          "to_full": dist.distance(out, full), "structure": float(metrics.structure_kept(out, photo, args.sigma))})
            ga, gb = dist.grams(run(a)), dist.grams(run(b))
            for w in STRENGTHS:
                out = run(f"{a}:{w},{b}:{1 - w}") if 0 < w < 1 else run(a if w == 1 else b)
                emit({"case": "mix_curve", "model": method, "pair": args.pair, "photo": pname, "weight_a": w,
                      "to_a": dist.distance(out, ga), "to_b": dist.distance(out, gb),
                      "structure": float(metrics.structure_kept(out, photo, args.sigma))})
            log(f"{method} {pname}")
    return 0


KNOT_GRID = tuple(i / 10 for i in range(11))


def write_knots(args, photos: dict) -> int:
    """`strength.even_knots` of the StyleBank model, written to its manifest as "strength_knots".

    What is left to go at each model strength is the mean of two fractions (each over every
    style and photo): of the photo's Gram distance to the full style, and of the structure the
    full style gives up (`metrics.structure_kept`). Either alone misleads: mid-way blends can be
    farther from the style's Grams than the photo is (a look of neither) while their edges have
    already moved."""
    import json

    from styljax.io import weights
    from styljax.nets import stylebank as sb
    from styljax.stores import stylebank_store

    path = args.stylebank_model or str(methods.get("stylebank").default_model_path())
    params, cfg, _ = stylebank_store.load_model(path)
    dist = metrics.StyleDistance(weights.resolve(None))
    left = []
    for style in sorted(params["banks"]):
        for pname, photo in photos.items():
            x = jnp.asarray(photo)[None]
            full = dist.grams(np.asarray(sb.stylize(params, x, style, cfg, clip=True)[0]))
            outs = [np.asarray(sb.stylize(params, x, style, cfg, clip=True, strength=jnp.float32(s))[0]) for s in KNOT_GRID]
            d = np.asarray([dist.distance(o, full) for o in outs])
            kept = np.asarray([metrics.structure_kept(o, photo, args.sigma) for o in outs])
            gram_left = np.clip(d / max(d[0], 1e-12), 0.0, 1.0)
            edge_left = np.clip((kept - kept[-1]) / max(kept[0] - kept[-1], 1e-6), 0.0, 1.0)
            left.append(0.5 * (gram_left + edge_left))
            log(f"knots {style} {pname}: " + " ".join(f"{v:.2f}" for v in left[-1]))
    control, model = st.even_knots(KNOT_GRID, np.mean(left, axis=0))
    manifest_path = f"{path}/manifest.json"
    manifest = json.loads(open(manifest_path).read())
    manifest["strength_knots"] = {
        "control": list(control), "model": [round(m, 4) for m in model],
        "how": f"python -m bench.strength --knots --photos {args.photos} --size {args.size}: what is left to go at "
               "model strengths 0, 0.1, ..., 1 (mean of the Gram-distance and structure fractions, every style)",
        "remaining": [round(float(v), 4) for v in np.mean(left, axis=0)]}
    atomic.atomic_write(manifest_path, json.dumps(manifest, indent=2).encode())
    emit({"case": "strength_knots", "model_dir": path, **manifest["strength_knots"]})
    return 0


def summary(rows: list[dict]) -> list[dict]:
    """Mean structure and L1 per (model, mode, strength) over styles and photos."""
    out: dict = {}
    for r in rows:
        if r.get("case") != "strength":
            continue
        out.setdefault((r["model"], r["mode"], r["strength"]), []).append((r["structure"], r["l1_photo"]))
    return [{"model": m, "mode": mode, "strength": s, "structure": float(np.mean([v[0] for v in vals])),
             "structure_min": float(np.min([v[0] for v in vals])), "l1_photo": float(np.mean([v[1] for v in vals])),
             "n": len(vals)} for (m, mode, s), vals in sorted(out.items())]


if __name__ == "__main__":
    raise SystemExit(main())
