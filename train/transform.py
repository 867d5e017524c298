"""`styljax train cin` and `styljax train johnson`: transform nets on the shared loop and data pipeline.

CIN trains one net for N style images (γ/β per style); Johnson one net for one style image. Both
write a transform-net model directory (`styljax.models.transform_store`); `styljax add-style`
adds styles to a CIN model. Rerunning the same command resumes from `--workdir`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from styljax import cliargs, methods
from styljax.errors import StyljaxError
from styljax.train.stylebank import (config_flag, content_flags, content_of, experiment, fit, init_flag, init_params, loop_flags,
                                     perceptual_trainer, provenance, style_images)


def _parser(parsers, method: methods.Method) -> argparse.ArgumentParser:
    p = parsers.add_parser(method.name, help=method.train_help,
                           description=f"{method.train_help}; rerunning the command resumes")
    config_flag(p, method)
    return p


def register_cin(parsers, method: methods.Method) -> None:
    """`styljax train cin` (`styljax.methods` calls it with the cin entry)."""
    p = _parser(parsers, method)
    p.add_argument("--styles", required=True, nargs="+", help="style images or a folder of them; names = file stems")
    _flags(p)


def register_johnson(parsers, method: methods.Method) -> None:
    """`styljax train johnson`: one style image."""
    p = _parser(parsers, method)
    p.add_argument("--style", required=True, help="the style image")
    p.add_argument("--name", default=None, help="style name (default: the file stem)")
    _flags(p)


def _flags(p: argparse.ArgumentParser) -> None:
    content_flags(p)
    p.add_argument("--out", required=True, help="model directory to write")
    init_flag(p)
    loop_flags(p)
    cliargs.add_weights_arg(p)
    perceptual_trainer(p, run_train)


def run_train(args: argparse.Namespace) -> int:
    from styljax import data, parallel
    from styljax.models.style_store import check_style_name

    method = methods.get(args.method, "train")
    exp = experiment(args, method)
    if getattr(args, "styles", None) is None:  # johnson: one --style
        styles = style_images([args.style])
        if len(styles) != 1:
            raise StyljaxError(f"--style: give one style image, got {len(styles)}")
        if args.name:
            styles = {check_style_name(args.name): next(iter(styles.values()))}
    else:
        styles = style_images(args.styles)
    source, n_content = content_of(args, exp)
    out = Path(args.out)
    workdir = Path(args.workdir or f"{out}.run")
    task = method.task_class()(exp.train, cliargs.load_vgg(args), styles, method=method.name,
                               init_params=init_params(args, exp.train.model))
    batches = data.crop_batches(source, exp.crop, exp.batch_size, exp.seed, scales=exp.scales)
    state, wall = fit(args, exp, task, batches, workdir,
                      f"training {method.name}: {len(styles)} style(s) ({', '.join(styles)}), {n_content} content images")
    meta = {**task.meta(), "provenance": provenance(args, exp, workdir, wall, {"content_images": n_content})}
    if parallel.is_main():
        method.open_store().save_model(out, state.params, exp.train.model, meta)
    print(f"wrote {out} ({len(styles)} style(s)) after {wall:.0f} s")
    return 0
