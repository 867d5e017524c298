"""`styljax train video`: train Net₁ (flow + mask sub-networks) on a frozen StyleBank model.

Background photos (a content folder, a TFDS dataset or the scikit-image photos) become synthetic
clips with exact flow and occlusion (`styljax.synthetic`); `VideoTask` plugs into the shared loop
(`styljax.training.train`: logging, samples, checkpoints, resume). The result is a Net₁ directory
(`styljax.models.video_store`) tied to the model's auto-encoder. Rerunning the command resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from styljax import checkpoints, methods
from styljax.errors import StyljaxError
from styljax.train.stylebank import config_flag, content_flags, content_of, experiment, fit, loop_flags, provenance


def register_train(parsers, method: methods.Method) -> None:
    """`styljax train video` (`styljax.methods` calls it with the video entry)."""
    p = parsers.add_parser(method.name, help=method.train_help,
                           description=f"{method.train_help}, on synthetic clips with exact flow; rerunning the "
                                       "command resumes")
    config_flag(p, method)
    p.add_argument("--model", default=None, help=f"StyleBank model directory (default: {checkpoints.describe('stylebank')})")
    p.add_argument("--style", required=True, help="the bank Net1 trains with (any other bank can use it later)")
    p.add_argument("--frames", type=int, default=None, help="clip length T >= 2 (default: per config)")
    content_flags(p)
    p.add_argument("--out", required=True, help="Net1 directory to write")
    p.add_argument("--init", default=None, metavar="NET1",
                   help="start from this Net1's flow and mask nets (e.g. to move a Net1 to a new StyleBank model; "
                        "the architecture must be the config's)")
    loop_flags(p)
    p.set_defaults(func=run_train_video)


def run_train_video(args: argparse.Namespace) -> int:
    from styljax import parallel, synthetic
    from styljax.models import stylebank_store, video_store

    method = methods.get(args.method, "train")
    exp = experiment(args, method)
    if args.frames is not None:
        exp = dataclasses.replace(exp, frames=args.frames)
    if exp.frames < 2:
        raise StyljaxError(f"--frames must be >= 2, got {exp.frames}")
    model = Path(args.model) if args.model else methods.get("stylebank").default_model_path()
    params, sb_cfg, manifest = stylebank_store.load_model(model)
    if args.style not in params["banks"]:
        raise StyljaxError(f"--style: {model} has no style {args.style!r}; styles: {', '.join(sorted(params['banks']))}")
    source, n_content = content_of(args, exp)
    out = Path(args.out)
    workdir = Path(args.workdir or f"{out}.run")
    init = None
    if args.init is not None:
        init, init_cfg, _ = video_store.load_net1(args.init)
        if init_cfg != exp.train.net:
            raise StyljaxError(f"--init {args.init}: its architecture {init_cfg} is not the config's {exp.train.net}")
    task = method.task_class()(exp.train, params, sb_cfg, params["banks"][args.style], args.style, init_params=init)
    batches = synthetic.clip_batches(source, exp.crop, exp.frames, exp.batch_size, exp.seed, exp.motion)
    state, wall = fit(args, exp, task, batches, workdir, f"training Net1 on {model} with style {args.style!r}: "
                      f"{n_content} background images, clips of {exp.frames} frames")
    meta = {**task.meta(), "stylebank_model": str(model),
            "provenance": provenance(args, exp, workdir, wall, {"content_images": n_content, "frames": exp.frames})}
    if parallel.is_main():
        video_store.save_net1(out, state.params, exp.train.net, manifest["autoencoder_sha256"], meta)
    print(f"wrote {out} after {wall:.0f} s")
    return 0
