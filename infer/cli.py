"""`styljax <verb>`: one command, many methods.

Every verb is a module with `register(subparsers)` that sets `func` on its parser. Errors meant for
the user (`StyljaxError`) print as one line on stderr and exit with status 2; Ctrl-C exits 130.

Start-up: building the parsers imports no JAX, Flax, Optax or Orbax (verb modules import them
inside the functions that run), so `styljax --help` and `styljax VERB --help` answer at once;
`tests/test_cli_startup.py` holds every verb to it. `styljax train` is the exception: its parsers
list the training configs, which hold the model configs (`train/configs.py`). A verb that runs turns on JAX's persistent
compilation cache first (`styljax.runtime.compile_cache`), so a second run of a command compiles nothing,
and a verb with XLA:CPU options of its own (the perceptual-loss trainers, `styljax.runtime.xla_cpu`) sets
them before JAX starts.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from styljax import __version__
from styljax.errors import StyljaxError

# verb modules: each keeps its heavy imports inside its functions so `styljax --help` stays fast
VERBS = ("styljax.infer.demo", "styljax.infer.stylize", "styljax.infer.video_stylize", "styljax.infer.analogy", "styljax.train.main",
         "styljax.infer.styles", "styljax.infer.weights", "styljax.infer.serve", "styljax.infer.export")


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """Every verb's parser; for `verb="train"` also one parser per training config (which imports
    the configs, and with them JAX: only when `train` is the verb)."""
    parser = argparse.ArgumentParser(prog="styljax", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"styljax {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name in VERBS:
        importlib.import_module(name).register(sub)
    if verb == "train":
        from styljax.train import main as train_main

        train_main.register_configs(sub.choices["train"])
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded in provenance
    try:
        try:
            from styljax.runtime import compile_cache, xla_cpu

            xla_cpu.use(getattr(args, "xla_flags", ()))  # a verb's own compiler options, before JAX starts
            compile_cache.enable()  # before anything compiles
            if hasattr(args, "distributed"):  # before anything touches a device
                from styljax.runtime import parallel

                parallel.initialize(args)
            return int(args.func(args) or 0)
        finally:
            from styljax.infer.common import close_bars

            close_bars()  # a message printed next gets a line of its own, and no bar is redrawn at exit
    except StyljaxError as e:
        print(f"styljax: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("styljax: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # a disk or file-system fault (ENOSPC, EIO) not met by a StyljaxError: one line, not a traceback
        print(f"styljax: {' '.join(str(e).split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
