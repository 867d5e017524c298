"""`styljax train CONFIG` and `styljax add-style`: every experiment of `train/configs.py` through one program.

    styljax train stylebank-kodak --styles STYLES --content-dir PHOTOS --out MODEL
    styljax train stylebank --config kodak ...         (the same: METHOD [--config SHORT])
    styljax add-style --model MODEL --style painting.jpg --name NAME

One path for every method: the config (`configs.get_config`) names the method; the method's
registry entry (`styljax.methods`) gives its training task and its store; the files a method
reads are the only thing that differs (style images, or a StyleBank model for the video nets).
The task runs on the shared loop (`styljax.training.train`, resuming from `--workdir`), and the
result is written as a model directory with its provenance. `add-style` runs a config whose
trainable filter names the new style (`Config.add_style`) on a model loaded from disk.

The `train` verb's per-config parsers are built only when `train` is the verb: they list the
configs, which hold the model configs, so building them imports JAX (`styljax --help` does not).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

from styljax import methods
from styljax.errors import StyljaxError
from styljax.runtime import cliargs
from styljax.runtime import xla_cpu
from styljax.train import inputs

# ---------------------------------------------------------------------------------------- parsers


def register(sub) -> None:
    """The `train` verb (its configs' parsers added by `register_configs` when it runs) and `add-style`."""
    p = sub.add_parser("train", help="train a model from a config of train/configs.py (`styljax train --help` lists them)",
                       description="train a model: `styljax train CONFIG ...` runs one config of train/configs.py "
                                   "(or `styljax train METHOD [--config SHORT]`); rerunning a command resumes it")
    p.set_defaults(configs_pending=True)
    _register_add_style(sub)


def register_configs(train_parser: argparse.ArgumentParser) -> None:
    """One sub-parser per config and per trainable method (its default config, or `--config`)."""
    from styljax.train import configs

    parsers = train_parser.add_subparsers(dest="config_name", metavar="CONFIG", required=True)
    for name in methods.named("train"):
        cfg = configs.default(name)
        p = parsers.add_parser(name, help=f"{methods.get(name).help} (config {cfg.name}, or --config)",
                               description=f"{cfg.name}: {cfg.doc}", formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--config", default=None,
                       help=f"a config of {name}: {', '.join(n.removeprefix(name + '-') for n in configs.names(name))} "
                            f"(default {cfg.name})")
        _config_flags(p, methods.get(name))
    for cfg in configs.CONFIGS:
        if cfg.name in methods.named("train") or cfg.add_style:
            continue
        p = parsers.add_parser(cfg.name, help=cfg.doc.splitlines()[0] if cfg.doc else cfg.method,
                               description=f"{cfg.name}: {cfg.doc}", formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(config=None)
        _config_flags(p, methods.get(cfg.method))


def _config_flags(p: argparse.ArgumentParser, method: methods.Method) -> None:
    if method.kind == "video":
        from styljax.io import checkpoints

        p.add_argument("--model", default=None, help=f"StyleBank model directory (default: {checkpoints.describe('stylebank')})")
        p.add_argument("--style", required=True, help="the bank Net1 trains with (any other bank can use it later)")
        p.add_argument("--frames", type=int, default=None, help="clip length T >= 2 (default: per config)")
        p.add_argument("--init", default=None, metavar="NET1",
                       help="start from this Net1's flow and mask nets (e.g. to move a Net1 to a new StyleBank model; "
                            "the architecture must be the config's)")
    else:
        if method.single_style:
            p.add_argument("--style", required=True, help="the style image")
            p.add_argument("--name", default=None, help="style name (default: the file stem)")
        else:
            p.add_argument("--styles", required=True, nargs="+", help="style images or a folder of them; names = file stems")
        p.add_argument("--init", default=None, metavar="MODEL",
                       help="start from this model's weights (fine-tune; styles found in it keep theirs, new ones start "
                            "fresh, its other styles are kept frozen); the architecture must be the config's")
        cliargs.add_weights_arg(p)
        p.set_defaults(xla_flags=xla_cpu.PERCEPTUAL_TRAINING)  # set by `styljax` before JAX starts
    inputs.content_flags(p)
    p.add_argument("--out", required=True, help="directory to write the trained model to")
    _loop_flags(p)
    p.set_defaults(func=run_train)


def _register_add_style(sub) -> None:
    p = sub.add_parser(
        "add-style", help="add a style to a StyleBank or CIN model (only the new bank / γ/β trains)",
        description="Train one new style into an existing StyleBank or CIN model: a new bank (StyleBank) or a\n"
                    "new γ/β set (CIN) learns the style image while everything else stays frozen, so the model's\n"
                    "other styles do not change. --refine trains an existing style further. Rerunning the same\n"
                    "command resumes from its run directory. --method arbitrary stores the painting's predicted\n"
                    "style vector instead (seconds, no training; --refine optimises that vector alone).",
        epilog="examples:\n"
               "  styljax add-style --model my_model --style new_painting.jpg --name new_style\n"
               "  styljax add-style --model my_model --style painting.jpg --name wave --refine\n"
               "  styljax add-style --model checkpoints/cin --style painting.jpg --out my_cin\n"
               "  styljax add-style --method arbitrary --style painting.jpg --name mine [--refine]",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None,
                   help="model directory (updated in place unless --out); default with --method: its default model")
    p.add_argument("--method", default=None,
                   help="the method whose default model gets the style: stylebank, cin, or arbitrary (the "
                        "painting's predicted style vector is stored, in seconds, no training)")
    p.add_argument("--style", required=True, help="style image")
    p.add_argument("--name", default=None, help="style name (default: the file stem)")
    p.add_argument("--refine", action="store_true",
                   help="NAME exists: train its bank further (from its current weights), everything else frozen; "
                        "arbitrary: optimise the style vector alone against the style distance (Adam, --steps, --lr, on "
                        "--crop px crops of 2 photos of --content-dir or scikit-image's; default 20 steps, lr 0.03, 160)")
    inputs.content_flags(p)
    p.add_argument("--config", default="add-style",
                   help="the recipe (steps, batch, crop, learning rate): a config of train/configs.py that adds a "
                        "style, METHOD-CONFIG (default METHOD-add-style; the loss is always the model's own)")
    p.add_argument("--out", default=None, help="write the result here instead of updating --model")
    _loop_flags(p)
    cliargs.add_weights_arg(p)
    p.set_defaults(func=run_add_style, xla_flags=xla_cpu.PERCEPTUAL_TRAINING)


def _loop_flags(p: argparse.ArgumentParser) -> None:
    """Run directory, the config overrides and the multi-host flags every training verb takes."""
    p.add_argument("--workdir", default=None, help="checkpoints, logs, samples (default: OUT.run)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: per config)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="content crops per step (default: per config; a multiple of the device count)")
    p.add_argument("--crop", type=int, default=None,
                   help="side of the random content crops, px, >= 16 (default: per config)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: per config)")
    p.add_argument("--seed", type=int, default=None, help="random seed of crops and init (default: per config)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    cliargs.add_distributed_args(p)


# ------------------------------------------------------------------------------------- the config


def config_of(args: argparse.Namespace, method: str | None = None):
    """The run's config: `styljax train NAME` or `styljax train METHOD --config SHORT`, with the
    command line's overrides applied."""
    from styljax.train import configs

    if method is not None:  # add-style: METHOD-CONFIG
        cfg = configs.get_config(args.config, method)
    elif args.config_name in methods.named("train"):
        cfg = (configs.get_config(args.config, args.config_name) if args.config
               else configs.default(args.config_name))
    else:
        cfg = configs.get_config(args.config_name)
    over = {k: v for k, v in {
        "steps": args.steps, "batch_size": args.batch_size, "crop": args.crop, "seed": args.seed,
        "frames": getattr(args, "frames", None),
    }.items() if v is not None}
    if args.crop is not None:
        over["short_side"] = max(cfg.short_side, args.crop)
    if args.exclude is not None:
        over["exclude"] = tuple(s for s in args.exclude.split(",") if s)
    cfg = dataclasses.replace(cfg, **over)
    if args.lr is not None:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, learning_rate=args.lr))
    if cfg.steps < 1 or cfg.batch_size < 1 or cfg.crop < 16:
        raise StyljaxError(f"need steps >= 1, batch size >= 1 and crop >= 16 (got {cfg.steps}, {cfg.batch_size}, {cfg.crop})")
    if methods.get(cfg.method).kind == "video" and cfg.frames < 2:
        raise StyljaxError(f"--frames must be >= 2, got {cfg.frames}")
    return cfg


def _init_params(args: argparse.Namespace, model_cfg) -> dict | None:
    """The --init model's params, checked against the config's architecture."""
    if args.init is None:
        return None
    from styljax.methods import store_for_model
    from styljax.stores.style_store import config_to_dict, same_architecture

    params, cfg, _ = store_for_model(args.init).load_model(args.init)
    if not same_architecture(config_to_dict(cfg), config_to_dict(model_cfg)):
        raise StyljaxError(f"--init {args.init}: its architecture {cfg} is not the config's {model_cfg}")
    return params


def _styles(args: argparse.Namespace, method: methods.Method) -> dict:
    if not method.single_style:
        return inputs.style_images(args.styles)
    from styljax.stores.style_store import check_style_name

    styles = inputs.style_images([args.style])
    if len(styles) != 1:
        raise StyljaxError(f"--style: give one style image, got {len(styles)}")
    return {check_style_name(args.name): next(iter(styles.values()))} if args.name else styles


# ---------------------------------------------------------------------------------------- the run


def _fit(args: argparse.Namespace, cfg, task, batches, workdir: Path, summary: str):
    """Run `task` on the shared loop (resuming from `workdir`); returns (final state, wall seconds)."""
    from styljax import training

    print(f"{summary}; {cfg.steps} steps of batch {cfg.batch_size} at {cfg.crop}px; run dir {workdir}")
    loop = training.LoopConfig(steps=cfg.steps, log_every=cfg.log_every, sample_every=cfg.sample_every,
                               checkpoint_every=cfg.checkpoint_every, seed=cfg.seed, progress=not args.quiet)
    t0 = time.perf_counter()
    state = training.train(task, batches, loop, workdir)
    return state, time.perf_counter() - t0


def _provenance(args, cfg, workdir: Path, wall_s: float, extra: dict) -> dict:
    last: dict = {}  # the last logged value of each metric (phases log different keys)
    if (workdir / "metrics.jsonl").exists():
        for line in (workdir / "metrics.jsonl").read_text().splitlines():
            last.update(json.loads(line))
    return {
        "command": "styljax " + " ".join(shlex.quote(a) for a in getattr(args, "argv", sys.argv[1:])),
        "config": cfg.name, "steps": cfg.steps, "batch_size": cfg.batch_size, "crop": cfg.crop,
        "wall_s_this_run": round(wall_s, 1), "final_metrics": last, **extra,
    }


def _batches(cfg, source):
    from styljax.io import data
    from styljax.video import synthetic

    if methods.get(cfg.method).kind == "video":
        return synthetic.clip_batches(source, cfg.crop, cfg.frames, cfg.batch_size, cfg.seed, cfg.motion)
    return data.crop_batches(source, cfg.crop, cfg.batch_size, cfg.seed, scales=cfg.scales)


def _trainable(cfg) -> dict:
    return {} if cfg.trainable is None else {"trainable": cfg.trainable}


def run_train(args: argparse.Namespace) -> int:
    """`styljax train CONFIG`: a fresh (or `--init`) model of the config's method."""
    from styljax.runtime import parallel

    cfg = config_of(args)
    method = methods.get(cfg.method, "train")
    source, n_content = inputs.content_of(args, cfg)
    out = Path(args.out)
    workdir = Path(args.workdir or f"{out}.run")
    if method.kind == "video":
        task, summary, save = _video_run(args, cfg, method)
    else:
        styles = _styles(args, method)
        task = method.task_class()(cfg.train, cliargs.load_vgg(args), styles, method=method.name,
                                   init_params=_init_params(args, cfg.train.model), **_trainable(cfg))
        summary = f"training {method.title}: {len(styles)} style(s) ({', '.join(styles)}), {n_content} content images"

        def save(params, meta):
            method.open_store().save_model(out, params, cfg.train.model, meta)

    batches = _batches(cfg, source)
    state, wall = _fit(args, cfg, task, batches, workdir, summary)
    params, finished = task.finish(state.params, batches)
    meta = {**task.meta(), "provenance": _provenance(args, cfg, workdir, wall, {"content_images": n_content, **finished})}
    if parallel.is_main():
        save(params, meta)
    print(f"wrote {out} after {wall:.0f} s")
    return 0


def _video_run(args: argparse.Namespace, cfg, method: methods.Method):
    """The video nets' task on a frozen StyleBank model's bank, and how their result is saved."""
    from styljax.stores import stylebank_store, video_store

    model = Path(args.model) if args.model else methods.get("stylebank").default_model_path()
    params, sb_cfg, manifest = stylebank_store.load_model(model)
    if args.style not in params["banks"]:
        raise StyljaxError(f"--style: {model} has no style {args.style!r}; styles: {', '.join(sorted(params['banks']))}")
    init = None
    if args.init is not None:
        init, init_cfg, _ = video_store.load_net1(args.init)
        if init_cfg != cfg.train.net:
            raise StyljaxError(f"--init {args.init}: its architecture {init_cfg} is not the config's {cfg.train.net}")
    task = method.task_class()(cfg.train, params, sb_cfg, params["banks"][args.style], args.style, init_params=init)
    summary = f"training Net1 on {model} with style {args.style!r}, clips of {cfg.frames} frames"

    def save(net1, meta):
        video_store.save_net1(Path(args.out), net1, cfg.train.net, manifest["autoencoder_sha256"],
                              {**meta, "stylebank_model": str(model)})

    return task, summary, save


def run_add_style(args: argparse.Namespace) -> int:
    """A new style (or `--refine` of one) on a frozen model: the method's add-style config."""
    from styljax.io import image, magenta
    from styljax.losses.perceptual import PerceptualLoss
    from styljax.runtime import parallel
    from styljax.methods import store_for_model
    from styljax.stores.style_store import check_style_name

    if args.model is None:
        if args.method is None:
            raise StyljaxError("add-style: give --model DIR or --method (its default model)")
        args.model = str(methods.get(args.method, "stylize").default_model_path())
    args.model = str(magenta.resolve_model(args.model))
    st = store_for_model(args.model)
    params, model_cfg, manifest = st.load_model(args.model)
    styles = params[st.styles_key]
    method = methods.for_manifest(manifest, args.model)
    if args.method is not None and args.method != method.name:
        raise StyljaxError(f"--method {args.method}: {args.model} is a {method.name} model")
    if method.kind == "feedforward" and not method.has("train"):  # a predicted style: no training
        from styljax.train import arbitrary_style

        return arbitrary_style.run_add_style(args)
    from styljax.train import configs

    adds = [c for c in configs.CONFIGS if c.method == method.name and c.add_style]
    if not adds:
        raise StyljaxError(f"{args.model}: a {method.name} model has one style per network; "
                           f"train another with `styljax train {method.name}`")
    cfg = config_of(args, method.name)
    if not cfg.add_style:  # another config's recipe (steps, batch, rate): the add-style filter still decides what trains
        cfg = dataclasses.replace(cfg, trainable=adds[0].trainable, add_style=True)
    name = check_style_name(args.name or Path(args.style).stem)
    if name in styles and not args.refine:
        raise StyljaxError(f"{args.model}: style {name!r} exists already (rename or remove it first, or --refine it)")
    if args.refine and name not in styles:
        raise StyljaxError(f"{args.model}: no style {name!r} to --refine; styles: {', '.join(sorted(styles))}")
    new_style = image.load_image(args.style, max_side=1024)
    # The new style trains on the objective the model's styles were trained with (its manifest's loss).
    saved_loss = manifest.get("train_config", {}).get("loss")
    loss = PerceptualLoss.from_json(saved_loss) if saved_loss else cfg.train.loss
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, model=model_cfg, loss=loss))
    source, _ = inputs.content_of(args, cfg)
    out = Path(args.out or args.model)
    workdir = Path(args.workdir or f"{out}.add-{name}.run")
    # Only the new style needs a Gram target; the frozen styles are carried in params.
    task = method.task_class()(cfg.train, cliargs.load_vgg(args), {name: new_style}, method=method.name,
                               trainable=cfg.trainable, new_styles=(name,), init_params=params)
    batches = _batches(cfg, source)
    state, wall = _fit(args, cfg, task, batches, workdir,
                       f"{'refining' if args.refine else 'adding'} style {name!r} in {args.model}: only it trains")
    new_params, finished = task.finish(state.params, batches)
    prov = dict(manifest.get("provenance", {}))
    record = _provenance(args, cfg, workdir, wall, finished)
    if args.refine:  # a style may be refined several times: keep every run, oldest first
        runs = prov.setdefault("refined_styles", {}).get(name, [])
        prov["refined_styles"][name] = (runs if isinstance(runs, list) else [runs]) + [record]
    else:
        prov.setdefault("added_styles", {})[name] = record
    keep = {k: v for k, v in manifest.items() if k not in ("format", "config", st.sha_key, "provenance")}
    if parallel.is_main():
        st.save_model(out, new_params, model_cfg, {**keep, "styles": sorted(new_params[st.styles_key]), "provenance": prov})
    print(f"{'refined' if args.refine else 'added'} {name!r} in {out} in {wall:.0f} s")
    return 0
