"""Where the shipped models are: the one place that decides.

In order: `$STYLJAX_CHECKPOINTS` if set; else the checkout's `checkpoints/` (a source tree: the
folder beside `styljax/`, next to `pyproject.toml`); else the copy installed with the package
(`styljax/_checkpoints`, from `pip install .`); else a one-line error naming the variable.
Imports nothing heavy: `--help` texts may name these folders.
"""

from __future__ import annotations

import os
from pathlib import Path

from styljax.errors import StyljaxError

ENV = "STYLJAX_CHECKPOINTS"
_PACKAGE = Path(__file__).resolve().parent.parent  # styljax/
CHECKOUT = _PACKAGE.parent / "checkpoints"  # only counts beside the checkout's pyproject.toml
INSTALLED = _PACKAGE / "_checkpoints"


def root() -> Path:
    """The folder holding the shipped models (see the module's docstring for the order).

    Returns:
      An existing directory.
    """
    env = os.environ.get(ENV, "").strip()
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise StyljaxError(f"${ENV}={env}: not a folder")
        return path
    if CHECKOUT.is_dir() and (CHECKOUT.parent / "pyproject.toml").is_file():
        return CHECKOUT
    if INSTALLED.is_dir():
        return INSTALLED
    raise StyljaxError(f"no shipped models found (neither a checkout's checkpoints/ nor an installed copy); "
                       f"set ${ENV} to a folder of models, or give --model")


def model_dir(name: str) -> Path:
    """The shipped model `name` (e.g. "stylebank"): `root() / name`."""
    return root() / name


def describe(name: str) -> str:
    """`name`'s shipped folder for `--help`: its path when found, else `checkpoints/NAME` (never raises)."""
    try:
        return str(model_dir(name))
    except StyljaxError:
        return f"checkpoints/{name}"
