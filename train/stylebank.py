"""`styljax train stylebank` and `styljax add-style` (StyleBank and CIN models), and the helpers every trainer shares.

Both wire files to the library: content folder (or a TFDS dataset, `--tfds`) -> grain crops,
style images -> Gram targets, `StyleBankTask` -> the shared loop (`styljax.training.train`) -> a
model directory (`styljax.models.stylebank_store`). Rerunning the same command resumes from `--workdir`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from styljax import cliargs, methods, xla_cpu
from styljax.errors import StyljaxError

if TYPE_CHECKING:
    from styljax.train import configs

SKIMAGE_CONTENT = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field")  # colour photos in the wheel


def register_train(parsers, method: methods.Method) -> None:
    """`styljax train stylebank` (`styljax.methods` calls it with the stylebank entry)."""
    p = parsers.add_parser(method.name, help=method.train_help,
                           description=f"{method.train_help} with the paper's T+1 schedule; rerunning the command resumes")
    config_flag(p, method)
    content_flags(p)
    p.add_argument("--styles", required=True, nargs="+", help="style images or a folder of them; names = file stems")
    p.add_argument("--out", required=True, help="model directory to write")
    init_flag(p)
    _common_flags(p)
    perceptual_trainer(p, run_train)


def register_add_style(sub) -> None:
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
                   help=f"{'|'.join(methods.named('add-style'))}: the method whose default model gets the style "
                        "(arbitrary: the painting's predicted style vector is stored, in seconds, no training)")
    p.add_argument("--style", required=True, help="style image")
    p.add_argument("--name", default=None, help="style name (default: the file stem)")
    p.add_argument("--refine", action="store_true",
                   help="NAME exists: train its bank further (from its current weights), everything else frozen; "
                        "arbitrary: optimise the style vector alone (L-BFGS, --steps, on 3 photos of --content-dir "
                        "or scikit-image's at --crop px, default 30 steps at 192)")
    content_flags(p)
    per_method = "; ".join(f"{m.title}: {', '.join(m.config_names)}"
                           for m in map(methods.get, methods.named("add-style")) if m.config_names)
    p.add_argument("--config", default="add-style",
                   help=f"experiment recipe (steps, batch, crop, learning rate) from train/configs.py; {per_method} "
                        f"(default add-style; the loss is always the model's own)")
    p.add_argument("--out", default=None, help="write the result here instead of updating --model")
    _common_flags(p)
    perceptual_trainer(p, run_add_style)


def config_flag(p: argparse.ArgumentParser, method: methods.Method) -> None:
    """`--config NAME`: one of the method's experiments (names from the registry: no JAX)."""
    p.add_argument("--config", default=method.default_config,
                   help=f"experiment recipe from train/configs.py: {', '.join(method.config_names)} "
                        f"(default {method.default_config})")


def content_flags(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--content-dir", default=None, nargs="+", metavar="DIR",
                     help="folder(s) of content photos (default: scikit-image photos)")
    src.add_argument("--tfds", default=None, metavar="NAME[:SPLIT]",
                     help="content from a prepared TFDS dataset with an 'image' feature, e.g. coco/2017 or "
                          "coco/2017:train[:5000] (split default: train; needs the [tfds] extra)")
    p.add_argument("--exclude", default=None, help="--content-dir stems to hold out, comma-separated (default: per config)")
    p.add_argument("--tfds-data-dir", default=None,
                   help="where the --tfds dataset is prepared (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)")


def init_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--init", default=None, metavar="MODEL",
                   help="start from this model's weights (fine-tune; styles found in it keep theirs, new ones start "
                        "fresh, its other styles are kept frozen); the architecture must be the config's")


def init_params(args: argparse.Namespace, model_cfg) -> dict | None:
    """The --init model's params, checked against the config's architecture."""
    if args.init is None:
        return None
    from styljax.models.style_store import config_to_dict, open_store, same_architecture

    params, cfg, _ = open_store(args.init).load_model(args.init)
    if not same_architecture(config_to_dict(cfg), config_to_dict(model_cfg)):
        raise StyljaxError(f"--init {args.init}: its architecture {cfg} is not the config's {model_cfg}")
    return params


def perceptual_trainer(p: argparse.ArgumentParser, func) -> None:
    """Run `func` for this verb, compiled with the perceptual-loss trainers' XLA:CPU options
    (`styljax.xla_cpu.PERCEPTUAL_TRAINING`, which `styljax` sets before JAX starts)."""
    p.set_defaults(func=func, xla_flags=xla_cpu.PERCEPTUAL_TRAINING)


def _common_flags(p: argparse.ArgumentParser) -> None:
    loop_flags(p)
    cliargs.add_weights_arg(p)


def loop_flags(p: argparse.ArgumentParser) -> None:
    """Run directory, the experiment overrides and the multi-host flags every training verb takes."""
    p.add_argument("--workdir", default=None, help="checkpoints, logs, samples (default: OUT.run)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: per --config)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="content crops per step (default: per --config; a multiple of the device count)")
    p.add_argument("--crop", type=int, default=None,
                   help="side of the random content crops, px, >= 16 (default: per --config)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: per --config)")
    p.add_argument("--seed", type=int, default=None, help="random seed of crops and init (default: per --config)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    cliargs.add_distributed_args(p)


def experiment(args: argparse.Namespace, method: methods.Method | None = None) -> configs.Experiment:
    """The `--config` experiment of `method` (default StyleBank) with the command-line overrides applied."""
    exp = (method or methods.get("stylebank")).experiment(args.config)
    over = {k: v for k, v in {
        "steps": args.steps, "batch_size": args.batch_size, "crop": args.crop, "seed": args.seed,
    }.items() if v is not None}
    if args.crop is not None:
        over["short_side"] = max(exp.short_side, args.crop)
    if args.exclude is not None:
        over["exclude"] = tuple(s for s in args.exclude.split(",") if s)
    exp = dataclasses.replace(exp, **over)
    if args.lr is not None:
        exp = dataclasses.replace(exp, train=dataclasses.replace(exp.train, learning_rate=args.lr))
    if exp.steps < 1 or exp.batch_size < 1 or exp.crop < 16:
        raise StyljaxError(f"need steps >= 1, batch size >= 1 and crop >= 16 (got {exp.steps}, {exp.batch_size}, {exp.crop})")
    return exp


def style_images(specs: list[str]) -> dict:
    from styljax import image

    files = []
    for s in specs:
        files += image.list_images(s)
    names = [Path(f).stem for f in files]
    if len(set(names)) != len(names):
        raise StyljaxError(f"style names (file stems) must be unique, got {', '.join(names)}")
    from styljax.models.stylebank_store import check_style_name

    return {check_style_name(n): image.load_image(f, max_side=1024) for n, f in zip(names, files)}


_TFDS_SPEC = re.compile(r"(?P<name>[^:\[\]\s]+?(?::\d+\.\d+\.\d+)?)(?::(?P<split>\S+))?")


def parse_tfds_spec(spec: str) -> tuple[str, str]:
    """`NAME[:VERSION][:SPLIT]` -> (name, split); split defaults to `train`.

    `coco/2017` -> (coco/2017, train); `coco/2017:validation[:500]` -> (coco/2017, validation[:500]);
    a TFDS version right after the name stays part of it: `mnist:3.0.1:test` -> (mnist:3.0.1, test).
    """
    m = _TFDS_SPEC.fullmatch(spec.strip())
    if not m:
        raise StyljaxError(f"--tfds: expected NAME[:SPLIT] (e.g. coco/2017 or coco/2017:validation), got {spec!r}")
    return m["name"], m["split"] or "train"


def content_source(content_dir: str | list[str] | None, exp: configs.Experiment, tfds: str | None = None,
                   tfds_data_dir: str | None = None, exclude_given: bool = False):
    """(source, number of images) for --content-dir (one folder or several), --tfds, or the
    scikit-image photos."""
    from styljax import data

    if tfds_data_dir is not None and tfds is None:
        raise StyljaxError("--tfds-data-dir needs --tfds")
    if tfds is not None:
        if exclude_given:
            raise StyljaxError("--exclude applies to --content-dir only (use the split, e.g. train[100:], with --tfds)")
        name, split = parse_tfds_spec(tfds)
        source = data.tfds_source(name, split, exp.short_side, tfds_data_dir)
        return source, len(source)
    if content_dir is None:
        from styljax.samples import skimage_image

        imgs = [skimage_image(n) for n in SKIMAGE_CONTENT]
        return data.ImageSource(lambda i: imgs[i], len(imgs), exp.short_side), len(imgs)
    dirs = [content_dir] if isinstance(content_dir, (str, Path)) else content_dir
    files = [f for d in dirs for f in data.folder_files(d, exp.exclude)]
    return data.folder_source(files, exp.short_side), len(files)


def content_of(args: argparse.Namespace, exp: configs.Experiment):
    return content_source(args.content_dir, exp, args.tfds, args.tfds_data_dir, exclude_given=args.exclude is not None)


def loop_config(exp: configs.Experiment, quiet: bool):
    from styljax.training import LoopConfig

    return LoopConfig(
        steps=exp.steps, log_every=exp.log_every, sample_every=exp.sample_every,
        checkpoint_every=exp.checkpoint_every, seed=exp.seed, progress=not quiet,
    )


def fit(args: argparse.Namespace, exp: configs.Experiment, task, batches, workdir: Path, summary: str):
    """Run `task` on the shared loop (resuming from `workdir`); returns (final state, wall seconds)."""
    from styljax import training

    print(f"{summary}; {exp.steps} steps of batch {exp.batch_size} at {exp.crop}px; run dir {workdir}")
    t0 = time.perf_counter()
    state = training.train(task, batches, loop_config(exp, args.quiet), workdir)
    return state, time.perf_counter() - t0


def _last_metrics(workdir: Path) -> dict:
    """Last logged value of each metric (the branches log different keys)."""
    out: dict = {}
    path = workdir / "metrics.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            out.update(json.loads(line))
    return out


def provenance(args, exp, workdir: Path, wall_s: float, extra: dict) -> dict:
    return {
        "command": "styljax " + " ".join(shlex.quote(a) for a in getattr(args, "argv", sys.argv[1:])),
        "steps": exp.steps, "batch_size": exp.batch_size, "crop": exp.crop,
        "wall_s_this_run": round(wall_s, 1), "final_metrics": _last_metrics(workdir), **extra,
    }


def run_train(args: argparse.Namespace) -> int:
    from styljax import data, parallel

    method = methods.get(args.method, "train")
    exp = experiment(args, method)
    styles = style_images(args.styles)
    source, n_content = content_of(args, exp)
    out = Path(args.out)
    workdir = Path(args.workdir or f"{out}.run")
    task = method.task_class()(exp.train, cliargs.load_vgg(args), styles, init_params=init_params(args, exp.train.model))
    batches = data.crop_batches(source, exp.crop, exp.batch_size, exp.seed, scales=exp.scales)
    state, wall = fit(args, exp, task, batches, workdir,
                      f"training StyleBank: {len(styles)} styles ({', '.join(styles)}), {n_content} content images")
    params, gains = calibrated(state.params, exp, batches, task.trainable_banks)
    meta = {**task.meta(), "provenance": provenance(args, exp, workdir, wall, {"content_images": n_content, "bank_gains": gains})}
    if parallel.is_main():
        method.open_store().save_model(out, params, exp.train.model, meta)
    print(f"wrote {out} ({len(styles)} styles) after {wall:.0f} s")
    return 0


def calibrated(params: dict, exp: configs.Experiment, batches, names) -> tuple[dict, dict]:
    """The trained banks `names` scaled to gain 1 on a few training crops (`stylebank.calibrate_banks`:
    the full-strength look is unchanged, the strength blend and mixes get banks of equal loudness)."""
    import numpy as np

    from styljax.models import stylebank as sb

    cfg = exp.train.model
    if not names or not cfg.bank_is_affine:
        return params, {}
    images = np.concatenate([batches[i]["image"] for i in range(max(1, 8 // exp.batch_size))])
    params, gains = sb.calibrate_banks(params, images, cfg, names)
    return params, {n: round(g, 4) for n, g in gains.items()}


def run_add_style(args: argparse.Namespace) -> int:
    """A new style (or `--refine` of one) on a frozen model: a StyleBank bank or CIN γ/β."""
    from styljax import data, image, magenta, parallel
    from styljax.models.style_store import check_style_name, open_store
    from styljax.tasks.perceptual import PerceptualLoss

    if args.model is None:
        if args.method is None:
            raise StyljaxError("add-style: give --model DIR or --method (its default model)")
        args.model = str(methods.get(args.method, "add-style").default_model_path())
    args.model = str(magenta.resolve_model(args.model))
    st = open_store(args.model)
    params, model_cfg, manifest = st.load_model(args.model)
    styles = params[st.styles_key]
    method = methods.for_manifest(manifest, args.model)
    if args.method is not None and args.method != method.name:
        raise StyljaxError(f"--method {args.method}: {args.model} is a {method.name} model")
    if method.add_style_fn is not None:  # a predicted style: no training
        return method.run_add_style(args)
    if not method.add_style:
        raise StyljaxError(f"{args.model}: a {method.name} model has one style per network; "
                           f"train another with `styljax train {method.name}`")
    name = check_style_name(args.name or Path(args.style).stem)
    if name in styles and not args.refine:
        raise StyljaxError(f"{args.model}: style {name!r} exists already (rename or remove it first, or --refine it)")
    if args.refine and name not in styles:
        raise StyljaxError(f"{args.model}: no style {name!r} to --refine; styles: {', '.join(sorted(styles))}")
    new_style = image.load_image(args.style, max_side=1024)
    exp = experiment(args, method)
    # The new style trains on the objective the model's styles were trained with (its manifest's loss).
    saved_loss = manifest.get("train_config", {}).get("loss")
    loss = PerceptualLoss.from_json(saved_loss) if saved_loss else exp.train.loss
    exp = dataclasses.replace(exp, train=dataclasses.replace(exp.train, model=model_cfg, loss=loss))
    source, n_content = content_of(args, exp)
    out = Path(args.out or args.model)
    workdir = Path(args.workdir or f"{out}.add-{name}.run")
    vgg = cliargs.load_vgg(args)
    # Only the new style needs a Gram target; the frozen styles are carried in params. The two
    # task classes name their frozen body differently (StyleBank's auto-encoder, a transform net).
    if method.name == "stylebank":
        frozen = {"trainable_banks": [name], "train_autoencoder": False}
    else:
        frozen = {"method": method.name, "trainable_styles": [name], "train_net": False}
    task = method.task_class()(exp.train, vgg, {name: new_style}, init_params=params, **frozen)
    batches = data.crop_batches(source, exp.crop, exp.batch_size, exp.seed, scales=exp.scales)
    what = "its bank" if method.name == "stylebank" else "its γ/β"
    state, wall = fit(args, exp, task, batches, workdir,
                      f"{'refining' if args.refine else 'adding'} style {name!r} in {args.model}: only {what} trains")
    new_params = state.params
    if method.name == "stylebank":
        new_params, gains = calibrated(new_params, exp, batches, [name])
    prov = dict(manifest.get("provenance", {}))
    record = provenance(args, exp, workdir, wall, {"bank_gains": gains} if method.name == "stylebank" else {})
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
