"""`styljax train cin` and `styljax train johnson`: transform nets on the shared loop and data pipeline.

CIN trains one net for N style images (γ/β per style); Johnson one net for one style image. Both
write a transform-net model directory (`styljax.models.transform_store`); `styljax add-style`
adds styles to a CIN model. Rerunning the same command resumes from `--workdir`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from infer import common
from styljax.errors import StyljaxError
from train import config_names
from train.stylebank import content_flags, content_of, experiment, fit, init_flag, init_params, loop_flags, provenance, style_images


def register_train(methods) -> None:
    p = methods.add_parser("cin", help="train a conditional-instance-norm net (one net, γ/β per style)",
                           description="train a conditional-instance-norm net (one net, γ/β per style); "
                                       "rerunning the command resumes")
    p.add_argument("--config", default="kodak",
                   help=f"experiment recipe from train/configs.py: {', '.join(config_names.CIN)} (default kodak)")
    p.add_argument("--styles", required=True, nargs="+", help="style images or a folder of them; names = file stems")
    _flags(p)
    p = methods.add_parser("johnson", help="train a Johnson et al. transform net for one style",
                           description="train a Johnson et al. transform net for one style; rerunning the "
                                       "command resumes")
    p.add_argument("--config", default="kodak",
                   help=f"experiment recipe from train/configs.py: {', '.join(config_names.JOHNSON)} (default kodak)")
    p.add_argument("--style", required=True, help="the style image")
    p.add_argument("--name", default=None, help="style name (default: the file stem)")
    _flags(p)


def _flags(p: argparse.ArgumentParser) -> None:
    content_flags(p)
    p.add_argument("--out", required=True, help="model directory to write")
    init_flag(p)
    loop_flags(p)
    common.add_weights_arg(p)
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from styljax import data, parallel
    from styljax.models import transform_store
    from styljax.models.style_store import check_style_name
    from styljax.tasks.transform import TransformTask
    from train import configs

    method = args.method
    exp = experiment(args, {"cin": configs.get_cin, "johnson": configs.get_johnson}[method])
    if method == "johnson":
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
    task = TransformTask(exp.train, common.load_vgg(args), styles, method=method,
                         init_params=init_params(args, exp.train.model))
    batches = data.crop_batches(source, exp.crop, exp.batch_size, exp.seed)
    state, wall = fit(args, exp, task, batches, workdir,
                      f"training {method}: {len(styles)} style(s) ({', '.join(styles)}), {n_content} content images")
    meta = {**task.meta(), "provenance": provenance(args, exp, workdir, wall, {"content_images": n_content})}
    if parallel.is_main():
        transform_store.save_model(out, state.params, exp.train.model, meta)
    print(f"wrote {out} ({len(styles)} style(s)) after {wall:.0f} s")
    return 0
