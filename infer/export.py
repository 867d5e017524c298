"""`styljax export`: a trained feed-forward model as a file that runs without styljax.

examples:
  styljax export --method stylebank --style wave --format stablehlo --out wave.shlo
  styljax export --method cin [--model M] --style all --format onnx --out cin.onnx   # style weights as an input
  styljax export --method johnson --style starry-night --format onnx --out j.onnx --height 512 --width 512
  styljax export --method arbitrary --style all --format onnx --out arb.onnx   # + arb_predictor.onnx
  styljax export --method arbitrary --style painting.jpg --format stablehlo --out p.shlo
  styljax export --method texture-net --model M --style dots --format stablehlo --out t.shlo
  styljax export --setup     # install the ONNX converter (the `export` extra) into its own environment

Batch, height and width are symbolic (any size from the model's minimum up; the model pads to
multiples of 4, a texture net to its own multiple, inside) unless --batch/--height/--width fix
them. Images are NHWC float32 RGB in [0, 1], in and out. `--style all` adds a second input, the
(S,) weights of a linear fusion of the styles; for the arbitrary-style model, the 100-d style
vector, with the style predictor (painting -> vector) as a second artefact, OUT_predictor.EXT.
Next to each artefact, FILE.json gives the styles (arbitrary: the stored styles' vectors), the
input convention, the sizes, a sha256 checksum, the versions and, for StableHLO, jax's
compatibility window.
"""

from __future__ import annotations

import argparse

from styljax import methods
from styljax.errors import StyljaxError


def register(sub) -> None:
    p = sub.add_parser("export", help="write a trained model as StableHLO or ONNX (runs without styljax)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", default=None, help=", ".join(methods.named("export")))
    p.add_argument("--model", default=None, help="model directory (default: the method's shipped model)")
    p.add_argument("--style", default=None, help="NAME, a fusion a:0.7,b:0.3 (arbitrary: or painting files), or all "
                                                "(the fusion weights, arbitrary: the style vector, as an input)")
    p.add_argument("--format", default=None, help="stablehlo (jax.export), onnx (jax2onnx) or tflite (jax2tf + "
                                                 "TensorFlow's converter: the `tflite` extra)")
    p.add_argument("--out", default=None, help="the artefact's path (its sidecar: OUT.json)")
    p.add_argument("--batch", type=int, default=None, help="fix the batch size (default: symbolic)")
    p.add_argument("--height", type=int, default=None, help="fix the height in px (default: symbolic)")
    p.add_argument("--width", type=int, default=None, help="fix the width in px (default: symbolic)")
    p.add_argument("--platforms", default="cpu,cuda",
                   help="StableHLO: platforms to lower for, comma-separated (default cpu,cuda)")
    p.add_argument("--setup", action="store_true",
                   help="create or update the ONNX converter's own environment ($STYLJAX_EXPORT_ENV, "
                        "default: export-env in the styljax cache) and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from styljax.io import export

    if args.setup:
        env = export.setup_export_env()
        print(f"export environment ready: {env}")
        return 0
    missing = [f"--{k}" for k in ("method", "style", "format", "out") if getattr(args, k) is None]
    if missing:
        raise StyljaxError(f"export needs {', '.join(missing)}")
    if args.format not in export.FORMATS:
        raise StyljaxError(f"--format: expected one of {', '.join(export.FORMATS)}, got {args.format!r}")
    methods.get(args.method, "export")
    platforms = tuple(p.strip() for p in args.platforms.split(",") if p.strip())
    req = export.Request(method=args.method, model=args.model, style=args.style, fmt=args.format, out=args.out,
                         batch=args.batch, height=args.height, width=args.width, platforms=platforms)
    for path in export.export(req):
        print(f"wrote {path} and {export.sidecar_path(path).name}")
    return 0
