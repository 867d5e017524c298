"""`styljax demo`: the newcomer's first run, on images that ship inside scikit-image.

Fetches the VGG weights if needed, then stylises scikit-image's astronaut with scikit-image's
`ihc` image (immunohistochemistry stain) as the style, by Gatys optimisation, and writes the result
plus a contact sheet (content | style | result) to --out-dir.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from infer import common


def register(sub) -> None:
    p = sub.add_parser("demo", help="stylise a scikit-image photo (embedded defaults)", description=__doc__)
    p.add_argument("--out-dir", default="out/demo")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--content", default="astronaut", help="a scikit-image data name")
    p.add_argument("--style", default="immunohistochemistry", help="a scikit-image data name")
    p.add_argument("--steps", default=None, help="steps per scale (default: the Gatys default)")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def skimage_image(name: str):
    """A colour scikit-image sample as float RGB [0, 1] (no download: the files are in the wheel)."""
    import numpy as np

    from styljax.errors import StyljaxError

    try:
        import skimage.data
    except ImportError:
        raise StyljaxError("the demo needs scikit-image: pip install 'styljax[dev]'") from None
    loader = getattr(skimage.data, name, None)
    if loader is None:
        raise StyljaxError(f"scikit-image has no sample image {name!r}")
    img = np.asarray(loader())
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return img[..., :3].astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)


def run(args: argparse.Namespace) -> int:
    from styljax import image, weights
    from infer import stylize

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
    from infer.cli import build_parser

    stylize.run(build_parser().parse_args(["stylize", *cli_args]))
    tiles = [image.load_image(p, max_side=args.size) for p in (paths["content"], paths["style"], result)]
    sheet = image.save_image(
        out_dir / "contact_sheet.jpg",
        image.contact_sheet(tiles, ncols=3, labels=["content", "style", "Gatys (L-BFGS)"]),
    )
    print(f"demo done in {time.perf_counter() - t0:.0f} s: {result} and {sheet}")
    return 0
