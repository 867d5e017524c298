"""Gatys and MRF across render sizes: structure kept and style distance, today's CLI defaults vs the
scale-aware ones (issue #34 item 8).

    python -m bench.gatys_sizes [--sizes 160,256,512,1024] [--methods gatys,mrf] [--defaults old,new]
        [--styles ../shared/data/styles] [--textures brick,gravel] [--content PATH] [--max-steps N]
        [--set key=value ...] > bench/results/gatys_sizes.jsonl

Each case is size x style (the paintings of --styles, plus scikit-image's grey textures, made RGB)
x method x defaults: the content photo (default kodim23, fitted to the size) is stylised as
`styljax stylize --size SIZE` would with those defaults, i.e. the style image loaded at
SIZE x style_scale. `old` is the CLI's configuration before the change (2 halving scales for Gram,
3 for MRF; 200/100 and 100 steps per scale; the style at the render size); `new` is
`styljax.optimization.gatys.default_config(size, style_loss)`. `--max-steps` caps every scale's
steps (say so when reporting: capped runs are not the CLI's); `--set` overrides config fields
(for exploring, e.g. `--set content_weight=20`).

Measures (`styljax.evaluation.metrics`): structure kept (blurred Sobel edge correlation with the
photo, at the render size) and the relative Gram distance to the style image (both at 384 px).
`seconds` is the wall time of the optimisation including compilation. One JSON line per case.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import time

import numpy as np

from bench.common import emit, log, machine_info
from styljax.evaluation import metrics
from styljax.imaging import geometry
from styljax.io import image, weights
from styljax.optimization import gatys

DEFAULT_CONTENT = "../shared/data/content/kodak/kodim23.png"


def old_config(size: int, style_loss: str) -> gatys.GatysConfig:
    """The CLI's configuration before issue #34 item 8 (infer/stylize.py at 2401c67)."""
    base = gatys.GatysConfig(content_layers=(("relu3_3", 1.0),), content_weight=5.0, style_scale=1.0)
    if style_loss == "mrf":
        base = dataclasses.replace(base, **{**gatys.MRF_DEFAULTS, "content_layers": (("relu4_2", 1.0),),
                                            "content_weight": 30.0, "mrf_patch": 3, "mrf_stride": 2})
    sizes = gatys.halving_sizes(size, 3 if style_loss == "mrf" else 2)
    return dataclasses.replace(base, sizes=sizes, steps=gatys.default_steps(len(sizes), style_loss))


def config(which: str, size: int, style_loss: str, max_steps: int | None, sets: dict) -> gatys.GatysConfig:
    cfg = old_config(size, style_loss) if which == "old" else gatys.default_config(size, style_loss)
    if max_steps:
        cfg = dataclasses.replace(cfg, steps=tuple(min(s, max_steps) for s in cfg.steps_per_scale()))
    return dataclasses.replace(cfg, **sets) if sets else cfg


def load_styles(args) -> dict[str, np.ndarray]:
    """Style images at their native size (long side at most 1024): paintings, then textures."""
    out = {}
    names = set(args.paintings.split(",")) if args.paintings else None
    for f in image.list_images(args.styles):
        if names is None or f.stem in names:
            out[f.stem] = image.load_image(f, max_side=1024)
    import skimage.data

    for t in filter(None, args.textures.split(",")):
        g = np.asarray(getattr(skimage.data, t)(), np.float32) / 255.0
        out[f"texture-{t}"] = np.repeat(g[..., None], 3, axis=-1) if g.ndim == 2 else g[..., :3]
    return out


def fit(x: np.ndarray, side: float) -> np.ndarray:
    return np.asarray(geometry.resize(x, image.fit_max_side(*x.shape[:2], max(16, round(side)))))


def parse_sets(items) -> dict:
    out = {}
    for kv in items or ():
        k, v = kv.split("=", 1)
        try:
            out[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k] = v
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="160,256,512,1024")
    ap.add_argument("--methods", default="gatys,mrf")
    ap.add_argument("--defaults", default="old,new")
    ap.add_argument("--styles", default="../shared/data/styles")
    ap.add_argument("--paintings", default="", help="comma-separated file stems (default: all in --styles)")
    ap.add_argument("--textures", default="brick,gravel", help="scikit-image texture names")
    ap.add_argument("--content", default=DEFAULT_CONTENT)
    ap.add_argument("--max-steps", type=int, default=None, help="cap on each scale's steps")
    ap.add_argument("--set", action="append", help="config override key=value (exploration)")
    args = ap.parse_args(argv)
    sets = parse_sets(args.set)

    emit({"bench": "gatys_sizes", **machine_info(), "content": args.content, "max_steps": args.max_steps,
          "set": sets})
    vgg = weights.load_default()
    dist = metrics.StyleDistance(vgg)
    photo = image.load_image(args.content)
    styles = load_styles(args)
    grams = {k: dist.grams(v) for k, v in styles.items()}
    methods = {"gatys": "gram", "mrf": "mrf"}
    for size in (int(s) for s in args.sizes.split(",")):
        content = fit(photo, size)
        for name, style in styles.items():
            for method in args.methods.split(","):
                for which in args.defaults.split(","):
                    cfg = config(which, size, methods[method], args.max_steps, sets)
                    s_img = fit(style, size * cfg.style_scale)
                    t0 = time.perf_counter()
                    out = gatys.stylize(vgg, content, [s_img], cfg)
                    seconds = time.perf_counter() - t0
                    rec = {"case": f"{method}_{which}_{size}px_{name}", "method": method, "defaults": which,
                           "size": size, "style": name, "structure": metrics.structure_kept(out, content),
                           "style_distance": dist.distance(out, grams[name]), "seconds": seconds,
                           "sizes": cfg.sizes, "steps": cfg.steps_per_scale(), "style_scale": cfg.style_scale,
                           "content_weight": cfg.content_weight, "content_layers": cfg.content_layers}
                    if args.set:
                        rec["set"] = sets
                    emit(rec)
                    log(f"{rec['case']}: structure {rec['structure']:.3f} style {rec['style_distance']:.3f} "
                        f"{seconds:.0f}s")


if __name__ == "__main__":
    main()
