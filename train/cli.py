"""Registers the training verbs: `styljax train <method>` (one parser per method of the registry
with a trainer, `styljax.methods`) and `styljax add-style`."""

from __future__ import annotations

from styljax import methods
from styljax.train import stylebank


def register(sub) -> None:
    p = sub.add_parser("train", help="train a feed-forward model", description="train a feed-forward model: "
                       "StyleBank, CIN, Johnson, or the video nets (Net1); rerunning a command resumes it")
    parsers = p.add_subparsers(dest="method", metavar="METHOD", required=True)
    for name in methods.named("train"):
        methods.get(name).register_trainer(parsers)
    stylebank.register_add_style(sub)
