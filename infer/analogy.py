"""`styljax analogy A B_PRIME --out-dir D`: Deep Image Analogy (visual attribute transfer).

Writes D/A_prime.png (A's layout, B′'s appearance), D/B.png (B′'s layout, A's appearance), the
dense correspondences D/nnf_ab.npy, D/nnf_ba.npy (int32 (H, W, 2) = (row, col) in the other image)
their colour-coded flows D/flow_ab.png, D/flow_ba.png, D/sheet.jpg (A, B′, A′, B side by side,
labelled) and D/summary.json (sizes, settings, network, seconds per stage).

    styljax analogy photo.png painting.png --out-dir out/              # photo → style
    styljax analogy painting.png photo.png --out-dir out/ --blend-level 2 --ratio 0.5
    styljax analogy day.png night.png --out-dir out/ --photo          # photo → photo, WLS refined
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from styljax.infer import common
from styljax.runtime import cliargs
from styljax.errors import StyljaxError

OUTPUTS = ("A_prime.png", "B.png", "nnf_ab.npy", "nnf_ba.npy", "flow_ab.png", "flow_ba.png", "sheet.jpg",
           "summary.json")


def register(sub) -> None:
    p = sub.add_parser("analogy", help="Deep Image Analogy: A : A' :: B : B'", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", help="image A (its layout is kept in A')")
    p.add_argument("b_prime", help="image B' (its appearance goes into A')")
    p.add_argument("--out-dir", required=True, help="folder for A_prime.png, B.png, the NNFs, flows, sheet and summary")
    p.add_argument("--blend-level", type=int, default=3, help="1, 2 or 3 (default 3; 2 for style→photo)")
    p.add_argument("--ratio", type=float, default=1.0, help="scale the inputs before VGG (0.5 for faces)")
    p.add_argument("--photo", action="store_true", help="photo→photo: WLS refinement of both outputs")
    p.add_argument("--max-side", type=int, default=None, help="downscale inputs whose longer side exceeds this")
    p.add_argument("--iters", type=int, default=10, help="PatchMatch iterations per level")
    p.add_argument("--deconv-iters", type=int, default=None,
                   help="L-BFGS iterations per deconvolution (default: 10, 15, 25, 100 for relu5_1 ... relu2_1;"
                        " the official code: 100)")
    p.add_argument("--nnf", default="patchmatch", choices=("auto", "patchmatch", "exact"),
                   help="NNF per level: patchmatch (default, the official code), exact (brute force) or auto"
                        " (brute force where the search is whole-map and faster by size)")
    p.add_argument("--mask", default="step", help="response mask: step (official code) or sigmoid (paper)")
    p.add_argument("--seed", type=int, default=0, help="PatchMatch's random initialisation and search (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    cliargs.add_weights_arg(p)
    p.set_defaults(func=run)


def _load(path: str, max_side: int | None):
    """Decode once; downscale (antialiased) only when the longer side exceeds `max_side`."""
    import numpy as np

    from styljax.io import image
    from styljax.imaging import geometry

    img = image.load_image(path)
    if max_side is not None and max(img.shape[:2]) > max_side:
        img = np.asarray(geometry.resize(img, image.fit_max_side(*img.shape[:2], max_side)))
    return img


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from styljax.io import image
    from styljax.optimization import analogy, patchmatch
    from styljax.io import atomic
    from styljax.imaging import sheets

    try:
        optional = {} if args.deconv_iters is None else {"deconv_iters": args.deconv_iters}
        cfg = analogy.AnalogyConfig(blend_level=args.blend_level, ratio=args.ratio, iters=args.iters,
                                    mask=args.mask, nnf=args.nnf, seed=args.seed, **optional)
    except ValueError as e:
        raise StyljaxError(str(e)) from None
    if args.iters < 1 or min(cfg.deconv_iters_at(i) for i in range(len(analogy.LEVELS) - 1)) < 0:
        raise StyljaxError("--iters must be >= 1 and --deconv-iters >= 0")
    a, b_prime = _load(args.a, args.max_side), _load(args.b_prime, args.max_side)
    analogy.check_size(a.shape[:2], cfg.ratio, f"A ({args.a})")
    analogy.check_size(b_prime.shape[:2], cfg.ratio, f"B' ({args.b_prime})")
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vgg = cliargs.load_vgg(args)

    t0 = time.perf_counter()
    bar = common.progress(len(analogy.LEVELS), "analogy", disable=args.quiet)
    result = analogy.analogy(vgg, a, b_prime, cfg, progress=lambda layer: (bar.set_postfix(level=layer), bar.update(1)))
    bar.close()
    if args.photo:
        result = analogy.refine_photo(result, a, b_prime)
    image.save_image(out / "A_prime.png", result.a_prime)
    image.save_image(out / "B.png", result.b)
    for name, nnf in (("ab", result.nnf_ab), ("ba", result.nnf_ba)):
        with atomic.atomic_path(out / f"nnf_{name}.npy") as tmp:
            np.save(tmp, np.asarray(nnf, np.int32))
        image.save_image(out / f"flow_{name}.png", patchmatch.flow_to_rgb(patchmatch.nnf_to_flow(nnf)) / 255.0)
    labels = ["A", "B'", "A' (layout of A, look of B')", "B (layout of B', look of A)"]
    image.save_image(out / "sheet.jpg", sheets.contact_sheet([a, b_prime, result.a_prime, result.b], 4, labels=labels))
    wall = time.perf_counter() - t0
    summary = {"a": args.a, "b_prime": args.b_prime, "a_hw": a.shape[:2], "b_prime_hw": b_prime.shape[:2],
               "config": dataclasses.asdict(cfg), "photo": args.photo, "network": result.network,
               "seconds": result.seconds, "levels": result.levels, "wall_s": wall}
    atomic.atomic_write(out / "summary.json", json.dumps(summary, indent=1).encode())
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    picked = ", ".join(f"{lv['layer']} {lv['nnf_ab']}" + ("" if lv["nnf_ba"] == lv["nnf_ab"] else f"/{lv['nnf_ba']}")
                       for lv in result.levels)
    print(f"wrote {', '.join(OUTPUTS)} to {out} in {wall:.1f} s "
          f"({a.shape[1]}x{a.shape[0]} : {b_prime.shape[1]}x{b_prime.shape[0]}, {result.network}; {stages}; NNF: {picked})")
    return 0

