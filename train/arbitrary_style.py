"""`styljax add-style --method arbitrary --style painting.jpg --name x`: store a painting's predicted
style vector as a named style of the arbitrary-style model, so `styles list|export|import`, the
CIN-style renderer interface and the service treat it like any other style. Seconds, no training; `--refine` then optimises the vector alone against the perceptual loss over
a few photos (`styljax.optimization.arbitrary_refine`)."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from styljax.errors import StyljaxError


def run_add_style(args: argparse.Namespace) -> int:
    from styljax.io.image import MIN_SIDE
    from styljax.renderers.arbitrary_renderer import ArbitraryRenderer
    from styljax.stores.style_store import check_style_name

    t0 = time.perf_counter()
    model = ArbitraryRenderer(Path(args.model))
    name = check_style_name(args.name or Path(args.style).stem)
    refine = getattr(args, "refine", False)
    if name in model.styles and not refine:
        raise StyljaxError(f"{args.model}: style {name!r} exists already (rename or remove it first, or --refine it)")
    if name in model.styles:  # --refine an existing style: from its stored vector
        vector = np.asarray(model.params[model.styles_key][name]["vector"])
    else:
        vector = model.painting_vector(args.style, min_side=MIN_SIDE)
    if refine:
        vector = _refine(args, model, vector)
    st = model.store
    if args.out is None or Path(args.out) == Path(args.model):
        out = Path(args.model)
        st.save_style(out, name, {"vector": vector})
    else:  # a copy of the model with the new style
        out = Path(args.out)
        keep = {k: v for k, v in model.manifest.items() if k not in ("format", "config", st.sha_key)}
        params = {**model.params, st.styles_key: {**{n: model.params[st.styles_key][n] for n in model.styles},
                                                   name: {"vector": vector}}}
        st.save_model(out, params, model.cfg, keep)
        if (Path(args.model) / "NOTICE").is_file():
            shutil.copyfile(Path(args.model) / "NOTICE", out / "NOTICE")
    what = "refined" if refine else "added"
    print(f"{what} {name!r} (the style vector of {args.style}) in {out} in {time.perf_counter() - t0:.1f} s")
    return 0


REFINE_PHOTOS = ("astronaut", "chelsea", "coffee")  # scikit-image's, when no --content-dir is given


def _refine(args: argparse.Namespace, model, vector: np.ndarray) -> np.ndarray:
    """The vector optimised alone against the perceptual loss over a few photos (`styljax.optimization.arbitrary_refine`),
    with the style distance to the painting before and after (`styljax.evaluation.metrics.StyleDistance`)."""
    from styljax.runtime import cliargs
    from styljax.evaluation import metrics
    from styljax.io import image, samples
    from styljax.imaging import geometry
    from styljax.optimization.arbitrary_refine import refine_vector
    from styljax.nets import arbitrary as ar

    side = args.crop or 192
    if args.content_dir:
        paths = [p for d in args.content_dir for p in image.list_images(d)][:3]
        photos = [image.load_image(p, size=(side, side)) for p in paths]
    else:
        photos = [np.asarray(geometry.resize(samples.skimage_image(n), (side, side))) for n in REFINE_PHOTOS]
    painting = image.load_image(args.style, max_side=512, min_side=image.MIN_SIDE)
    vgg = cliargs.load_vgg(args)
    t0 = time.perf_counter()
    new, info = refine_vector(model.params, model.cfg, vector, photos, painting, vgg, steps=args.steps or 30)
    dist = metrics.StyleDistance(vgg)
    target = dist.grams(painting)
    x = np.stack(photos)

    def mean_distance(v):
        outs = np.asarray(ar.transform(model.params, x, v, model.cfg, clip=True))
        return float(np.mean([dist.distance(o, target) for o in outs]))

    before, after = mean_distance(vector), mean_distance(new)
    print(f"refine: loss {info['loss_before']:.4g} -> {info['loss_after']:.4g} in {info['steps']} L-BFGS steps, "
          f"{time.perf_counter() - t0:.1f} s; style distance {before:.3f} -> {after:.3f} "
          f"({100 * (1 - after / max(before, 1e-12)):+.0f}% lower) on {len(photos)} photos at {side} px")
    return new
