"""`styljax add-style --method arbitrary --style painting.jpg --name x`: store a painting's predicted
style vector as a named style of the arbitrary-style model, so `styles list|export|import`, the
CIN-style renderer interface and the service treat it like any other style. Seconds, no training;
`--refine` then optimises the vector alone against the style distance over two photos
(`styljax.optimization.arbitrary_refine`: 20 Adam steps on 160 px crops at 512 px render scale,
`--steps`/`--crop`/`--lr` override), never on the held-out photos."""

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


def _refine(args: argparse.Namespace, model, vector: np.ndarray) -> np.ndarray:
    """The vector optimised alone (`styljax.optimization.arbitrary_refine`) on the first two photos of
    --content-dir that are not held out (the benchmarks' `HELD_OUT`, and --exclude), else on
    scikit-image's; prints the style distance on those crops before and after."""
    from styljax.io import image
    from styljax.optimization import arbitrary_refine as refine
    from styljax.runtime import cliargs
    from styljax.train.configs import HELD_OUT

    rcfg = refine.RefineConfig().overriding(steps=args.steps, crop=args.crop, learning_rate=args.lr)
    if rcfg.steps < 1 or rcfg.crop < 16 or not rcfg.learning_rate > 0:
        raise StyljaxError(f"--refine needs steps >= 1, crop >= 16 and lr > 0 (got {rcfg.steps}, {rcfg.crop}, {rcfg.learning_rate})")
    count = len(refine.DEFAULT_PHOTOS)
    if args.content_dir:
        held = set(HELD_OUT) | set(filter(None, (args.exclude or "").split(",")))  # never the benchmarks' photos
        paths = [p for d in args.content_dir for p in image.list_images(d) if p.stem not in held][:count]
        if not paths:
            raise StyljaxError(f"--content-dir {' '.join(args.content_dir)}: no photos to refine on (held out: {', '.join(sorted(held))})")
        photos = [image.load_image(p) for p in paths]
    else:
        photos = refine.default_photos()
    painting = image.load_image(args.style, max_side=512, min_side=image.MIN_SIDE)
    vgg = cliargs.load_vgg(args)
    t0 = time.perf_counter()
    new, info = refine.refine_vector(model.params, model.cfg, vector, refine.refine_photos(photos, rcfg), painting, vgg, rcfg)
    before, after = info["style_before"], info["style_after"]
    print(f"refine: {info['evaluations']} Adam steps in {time.perf_counter() - t0:.1f} s; style distance "
          f"{before:.3f} -> {after:.3f} ({100 * (1 - after / max(before, 1e-12)):+.0f}% lower) on {len(photos)} "
          f"{rcfg.crop} px crops at {rcfg.render_side} px render scale")
    return new
