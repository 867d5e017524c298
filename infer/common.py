"""Helpers the inference programs share: argument parsing, progress bars, limits (the flags the
training programs share too are in `styljax.runtime.cliargs`).

Imported while the parsers are built (`styljax --help`), so it imports nothing heavy at module
level: no JAX, no NumPy, no tqdm.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path

from styljax.errors import StyljaxError


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """`--help` with each option's default, "(default: X)", where it has a value worth showing:
    not None, False or empty, and not already told in the option's own help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help = action.help or ""
        default = action.default
        if (default in (None, False, [], (), argparse.SUPPRESS) or "default" in help.lower()
                or not action.option_strings):
            return help
        return f"{help} (default: %(default)s)"


def floats(text: str, name: str = "value") -> tuple[float, ...]:
    """'0.7,0.3' -> (0.7, 0.3), with a one-line error naming the option."""
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise StyljaxError(f"--{name}: expected comma-separated numbers, got {text!r}") from None


def ints(text: str, name: str = "value") -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise StyljaxError(f"--{name}: expected comma-separated integers, got {text!r}") from None


def strength(value, name: str = "--strength") -> float | None:
    """A style strength flag or form field: None if not given, else a float in [0, 1] (NaN, inf and
    non-numbers refused with a one-line error naming the option)."""
    if value is None:
        return None
    from styljax.nets.strength import check_strength

    try:
        return check_strength(value)
    except ValueError as e:
        raise StyljaxError(f"{name}: {e}") from None


def load_limits(args: argparse.Namespace) -> dict:
    """`styljax.io.image.load_image` keywords for the photos a command reads: `--max-pixels` when
    given, and the minimum side (`styljax.io.image.MIN_SIDE`)."""
    from styljax.io.image import MIN_SIDE

    kw = {"min_side": MIN_SIDE}
    if getattr(args, "max_pixels", None) is not None:
        kw["max_pixels"] = args.max_pixels
    return kw


def layer_weights(text: str, name: str) -> tuple[tuple[str, float], ...]:
    """'relu1_2,relu2_2:0.5' -> (('relu1_2', 1.0), ('relu2_2', 0.5))."""
    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        layer, _, w = item.partition(":")
        try:
            out.append((layer, float(w) if w else 1.0))
        except ValueError:
            raise StyljaxError(f"--{name}: bad weight in {item!r}") from None
    if not out:
        raise StyljaxError(f"--{name}: no layers given")
    return tuple(out)


def objective_overrides(args: argparse.Namespace, **extra_flags: str) -> dict:
    """Config overrides from the objective flags `stylize` shares between the optimisation methods
    (gatys, photo): weights, learning rate, layers, Gram normalisation, pooling; `extra_flags`
    maps more flag names to config fields."""
    fields = {"content_weight": "content_weight", "style_weight": "style_weight", "tv_weight": "tv_weight",
              "lr": "learning_rate", "gram_norm": "gram_norm", "pooling": "pooling", **extra_flags}
    out = {field: getattr(args, flag) for flag, field in fields.items() if getattr(args, flag) is not None}
    if args.content_layers:
        out["content_layers"] = layer_weights(args.content_layers, "content-layers")
    if args.style_layers:
        out["style_layers"] = layer_weights(args.style_layers, "style-layers")
    return out


def log_every(snapshot_every: int) -> int:
    """Optimiser steps between progress updates: 10, or fewer so that every snapshot step is one.
    The optimiser runs on the device between them without waiting for the host."""
    return math.gcd(10, snapshot_every) if snapshot_every else 10


def progress(total: int, desc: str, disable: bool = False):
    """The progress bar every program uses (a tqdm on stderr, dynamic width)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, dynamic_ncols=True, disable=disable, leave=True)


def close_bars() -> None:
    """Close every progress bar still open (the programs' and the training loop's), so that a
    message printed next starts on a line of its own and no bar is redrawn at exit."""
    import sys

    tqdm = getattr(sys.modules.get("tqdm"), "tqdm", None)  # no bar without tqdm imported
    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def check_choice(value: str, allowed: Sequence[str], name: str) -> str:
    if value not in allowed:
        raise StyljaxError(f"--{name}: expected one of {', '.join(allowed)}, got {value!r}")
    return value


def drive_optimisation(steps, *, total: int, desc: str, out: Path, finish, snapshot_every: int | None,
                       quiet: bool, postfix):
    """The CLI side of an image optimisation (Gatys, DPST): a progress bar over the `Step`s the
    method yields, a snapshot every `snapshot_every` steps, and the last step.

    Args:
      steps: the method's iterator of `styljax.optimization.optimize.Step`.
      total: the steps it will take, for the bar.
      desc: the bar's label.
      out: the result's path (snapshots go beside it as STEM_stepNNNNN.EXT).
      finish: the method's image -> displayable result (`gatys.finish`, `dpst.finish`).
      snapshot_every: write a snapshot every N steps (None/0: never).
      quiet: no bar.
      postfix: `Step` -> the bar's postfix dict.

    Returns:
      (the last step, wall seconds); a one-line error if there was none.
    """
    from styljax.io import image

    bar = progress(total, desc, disable=quiet)
    t0 = time.perf_counter()
    last = None
    for last in steps:
        bar.update(last.global_step - bar.n)
        bar.set_postfix(**postfix(last))
        if snapshot_every and last.global_step % snapshot_every == 0:
            image.save_image(out.with_name(f"{out.stem}_step{last.global_step:05d}{out.suffix}"), finish(last.image))
    bar.close()
    if last is None:
        raise StyljaxError("no optimisation steps requested (--steps 0)")
    return last, time.perf_counter() - t0
