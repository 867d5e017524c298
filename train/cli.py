"""Registers the training verbs: `styljax train <method>` and `styljax add-style`."""

from __future__ import annotations

from train import stylebank, transform, video

TRAINERS = (stylebank.register_train, transform.register_train, video.register_train)


def register(sub) -> None:
    p = sub.add_parser("train", help="train a feed-forward model", description="train a feed-forward model: "
                       "StyleBank, CIN, Johnson, or the video nets (Net1); rerunning a command resumes it")
    methods = p.add_subparsers(dest="method", metavar="METHOD", required=True)
    for reg in TRAINERS:
        reg(methods)
    stylebank.register_add_style(sub)
