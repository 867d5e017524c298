"""`styljax demo`: the newcomer's first run, on images that ship inside scikit-image.

- `--method stylebank` (default): renders a scikit-image photo in every style of the shipped
  StyleBank model (`checkpoints/stylebank`), plus a linear fusion of two styles and a region fusion
  (K-means regions of the encoder features), into one contact sheet. Seconds on a CPU.
- `--method gatys`: fetches the VGG weights if needed, then stylizes scikit-image's astronaut with
  its `immunohistochemistry` image as the style by Gatys optimisation (L-BFGS, 256 -> 512 px) and
  writes the result plus a contact sheet (content | style | result). Minutes on a CPU.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from styljax.errors import StyljaxError
from styljax.infer import common
from styljax.io.samples import skimage_image


def register(sub) -> None:
    p = sub.add_parser("demo", help="stylize a scikit-image photo (embedded defaults)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", default="stylebank", help="stylebank (default, seconds) or gatys (minutes)")
    p.add_argument("--out-dir", default="out/demo", help="where the images and the contact sheet go (default out/demo)")
    p.add_argument("--size", type=int, default=512, help="longer side of the results, px (default 512)")
    p.add_argument("--content", default="astronaut", help="a scikit-image data name")
    p.add_argument("--style", default="immunohistochemistry", help="gatys: a scikit-image data name")
    p.add_argument("--model", default=None, help="stylebank: model directory (default: the shipped one)")
    p.add_argument("--steps", default=None, help="steps per scale (default: the Gatys default)")
    p.add_argument("--cache-dir", default=None,
                   help="gatys: weights cache (default: $STYLJAX_CACHE or ~/.cache/styljax)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    common.check_choice(args.method, ("stylebank", "gatys"), "method")
    from styljax.io.image import MAX_PIXELS_ENV, MIN_SIDE, default_max_pixels

    if args.size < MIN_SIDE:
        raise StyljaxError(f"--size must be at least {MIN_SIDE} px, got {args.size}")
    if args.size * args.size > default_max_pixels():  # the photos are square at most: checked before any work
        raise StyljaxError(f"--size {args.size}: up to {args.size * args.size:,} pixels, over the limit of "
                           f"{default_max_pixels():,} (${MAX_PIXELS_ENV} raises it)")
    return run_stylebank(args) if args.method == "stylebank" else run_gatys(args)


def run_stylebank(args: argparse.Namespace) -> int:
    import jax.numpy as jnp
    import numpy as np

    from styljax import methods
    from styljax.io import image
    from styljax.imaging import geometry
    from styljax.imaging import sheets
    from styljax.nets import stylebank as sb
    from styljax.stores import stylebank_store

    t0 = time.perf_counter()
    out_dir = Path(args.out_dir)
    params, cfg, _ = stylebank_store.load_model(args.model or methods.get("stylebank").default_model_path())
    names = tuple(sorted(params["banks"]))
    photo = skimage_image(args.content)
    photo = np.asarray(geometry.resize(photo, image.fit_max_side(*photo.shape[:2], args.size)))
    x = jnp.asarray(photo[None])
    every = sb.render_all(params, x, cfg, names, clip=True)[:, 0]
    pair = names[:2] if len(names) >= 2 else names * 2
    fused = sb.stylize_bank(params, x, sb.fuse_linear(params["banks"], {pair[0]: 0.5, pair[1]: 0.5}), cfg, clip=True)[0]
    regions = sb.stylize_regions(params, x, pair, cfg, k=2, clip=True)[0]
    tiles = [photo, *np.asarray(every), np.asarray(fused), np.asarray(regions)]
    labels = [args.content, *names, f"{pair[0]} + {pair[1]} (linear)", f"{pair[0]} | {pair[1]} (regions)"]
    for tile, slug in zip(tiles[1:], [*names, "linear_fusion", "region_fusion"]):
        image.save_image(out_dir / f"{args.content}_{slug}.png", tile)
    sheet = image.save_image(
        out_dir / "stylebank_contact_sheet.jpg", sheets.contact_sheet(tiles, ncols=5, labels=labels), quality=88
    )
    print(f"demo done in {time.perf_counter() - t0:.1f} s: {len(names)} styles, a linear and a region fusion -> {sheet}")
    return 0


def run_gatys(args: argparse.Namespace) -> int:
    from styljax.io import image, weights
    from styljax.infer import stylize

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights.fetch(args.cache_dir, log=print)
    t0 = time.perf_counter()
    paths = {}
    for role, name in (("content", args.content), ("style", args.style)):
        paths[role] = image.save_image(out_dir / f"{role}_{name}.png", skimage_image(name))
    result = out_dir / f"gatys_{args.content}_{args.style}.png"
    cli_args = [
        "--method", "gatys", "--content", str(paths["content"]), "--style", str(paths["style"]),
        "--size", str(args.size), "--out", str(result),
    ] + (["--steps", args.steps] if args.steps else []) + (["--quiet"] if args.quiet else [])
    if args.cache_dir:
        cli_args += ["--cache-dir", args.cache_dir]
    from styljax.infer.cli import build_parser
    from styljax.imaging import sheets

    stylize.run(build_parser().parse_args(["stylize", *cli_args]))
    tiles = [image.load_image(p, max_side=args.size) for p in (paths["content"], paths["style"], result)]
    sheet = image.save_image(
        out_dir / "contact_sheet.jpg",
        sheets.contact_sheet(tiles, ncols=3, labels=["content", "style", "Gatys (L-BFGS)"]),
    )
    print(f"demo done in {time.perf_counter() - t0:.0f} s: {result} and {sheet}")
    return 0
