"""`styljax stylize`: stylize images with any of the project's methods (--method, default gatys).

examples:
  styljax stylize --content photo.jpg --style painting.jpg --size 512 --out x.png    # gatys, the default
  styljax stylize --method gatys --content A --style B [B2 ...] --size 512 --out x.png
  styljax stylize --method stylebank --style wave photo.jpg --out x.png
  styljax stylize --method stylebank [--model M] --style NAME|all|a:0.7,b:0.3 [--mask F|--regions K]
      INPUT(S)|DIR --out PATH|DIR [--size PX] [--batch N] [--strength S] [--preserve-colors]
  styljax stylize --method cin|johnson [--model M] --style NAME|all|a:0.5,b:0.5 [--mask F]
      INPUT(S)|DIR --out PATH|DIR [--strength S] [--preserve-colors]
  styljax stylize --method arbitrary --style painting.jpg|a.jpg:0.7,b.jpg:0.3 INPUT(S)|DIR --out PATH|DIR
      [--size PX] [--strength S] [--preserve-colors] [--mask F --style a.jpg,b.jpg]
  styljax stylize --method cin --model magenta-26 --style 7|3:0.5,12:0.5|all INPUT(S)|DIR --out PATH|DIR
  styljax stylize --method cin --engine ray --workers 4 --style NAME SRC_DIR_OR_URI --out DST_DIR_OR_URI
  styljax stylize --method photo --content A --style B [--content-mask MA --style-mask MB | --auto-masks K]
      --out x.png

gatys and photo optimise one image against style image files; stylebank, cin and johnson run a
trained model (default: checkpoints/<method>) whose styles are named (`styljax styles list`);
arbitrary runs Magenta's arbitrary-style net on any painting file (weights from `styljax weights
fetch`, which also converts Magenta's 26-style CIN net: --method cin --model magenta-26).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from styljax.infer import common, photo, ray_job
from styljax import methods
from styljax.runtime import cliargs
from styljax.errors import StyljaxError


def _either(names: tuple[str, ...]) -> str:
    """("a", "b", "c") -> "a, b or c"."""
    return " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def register(sub) -> None:
    p = sub.add_parser("stylize", help="stylize an image", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", default=None,
                   help="; ".join(f"{m} ({methods.get(m).help})" for m in methods.named("stylize")))
    p.add_argument("inputs", nargs="*", help="content image(s) or a folder (or use --content)")
    p.add_argument("--content", default=None, help="content image")
    p.add_argument("--style", required=True, nargs="+",
                   help="gatys: style image(s); stylebank/cin/johnson: NAME, all, or a fusion a:0.7,b:0.3; "
                        "arbitrary: painting file(s) or stored names, a mix a.jpg:0.7,b.jpg:0.3 (style vectors "
                        "interpolated)")
    p.add_argument("--out", required=True, help="output image (.png/.jpg), or a folder for several")
    p.add_argument("--size", type=int, default=None, help="output max side in px (gatys default 512; stylebank: input size)")
    p.add_argument("--max-pixels", type=int, default=None,
                   help="the pixel budget: refuse an input, a render at --size or a --tile tile with more pixels, "
                        "checked before any work (default: $STYLJAX_MAX_PIXELS or 64 MP)")
    p.add_argument("--preserve-colors", action="store_true",
                   help="keep the photo's colours: gatys transfers luminance only; stylebank/cin/johnson keep "
                        "the output's luminance with the photo's chrominance")
    cliargs.add_weights_arg(p)
    g = p.add_argument_group("gatys")
    g.add_argument("--optimizer", default="lbfgs", help="lbfgs or adam")
    g.add_argument("--steps", default=None, help="steps per scale, e.g. 200,100; photo: stage 1,2 steps (default: per config)")
    g.add_argument("--scales", type=int, default=None,
                   help="coarse-to-fine scales, halving from --size (default 2; 3 with --style-loss mrf; "
                        "scales under 64 px dropped)")
    g.add_argument("--style-loss", default="gram",
                   help="gram (Gatys et al., the default) or mrf (Li & Wand's patch matching at relu3_1, relu4_1; "
                        "content relu4_2, relu3_1 under 320 px; 100 steps per scale)")
    g.add_argument("--init", default="content", help="content, style, noise or an image file")
    g.add_argument("--style-blend", default=None, help="weights of the style images, e.g. 0.7,0.3")
    g.add_argument("--style-scale", type=float, default=1.0, help="style size relative to --size")
    g.add_argument("--content-weight", type=float, default=None, help="weight of the content loss (default 5, mrf 30; "
                        "grows below 512 px, see gatys.default_config)")
    g.add_argument("--style-weight", type=float, default=None, help="weight of the style (Gram) loss (default 100)")
    g.add_argument("--tv-weight", type=float, default=None,
                   help="weight of the total-variation smoothness loss (default 100; 0 turns it off)")
    g.add_argument("--content-layers", default=None, help="e.g. relu3_3 or relu4_2:1")
    g.add_argument("--style-layers", default=None, help="e.g. relu1_2,relu2_2,relu3_3,relu4_3")
    g.add_argument("--gram-norm", default=None, help="chw, hw or gatys (see styljax.losses.feature_losses)")
    g.add_argument("--pooling", default=None, help="max or avg")
    g.add_argument("--lr", type=float, default=None,
                   help="learning rate of --optimizer adam, on [0, 1] pixels (default 0.02)")
    g.add_argument("--seed", type=int, default=0, help="random seed (--init noise, photo's --auto-masks; default 0)")
    g.add_argument("--snapshot-every", type=int, default=0, help="write OUT_stepNNNNN.png every N steps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    photo.add_args(p)
    b = p.add_argument_group("stylebank, cin, johnson")
    b.add_argument("--model", default=None, help="model directory (default: checkpoints/<method>)")
    b.add_argument("--strength", default=None, metavar="S",
                   help="style strength in [0, 1] (default 1): stylebank blends the bank's features with the "
                        "photo's before decoding; cin/johnson interpolate γ/β toward an identity style, or fade "
                        "pixels toward the photo when the model has none; arbitrary interpolates the style vector "
                        "toward the photo's own (Magenta's)")
    b.add_argument("--mask", default=None, help="region mask image: grey levels split into one region per style")
    b.add_argument("--regions", type=int, default=None, help="K-means regions of the encoder features, one style each")
    b.add_argument("--batch", type=int, default=4, help="images per jitted call")
    b.add_argument("--tile", type=int, default=None,
                   help="render images larger than this in overlapping TILExTILE tiles (bounded memory; "
                        "instance-norm statistics become per tile)")
    b.add_argument("--tile-overlap", type=int, default=None, help="min overlap between tiles, px (default: min(64, TILE/4))")
    b.add_argument("--strict", action="store_true",
                   help="stop at the first bad input (by default a folder run reports each bad file, renders the "
                        "others and exits 1)")
    b.add_argument("--overwrite", action="store_true",
                   help="redo outputs that exist (by default a folder run skips inputs already done: resumable)")
    cliargs.add_distributed_args(p)
    ray_job.add_args(p)
    p.set_defaults(func=run)


def gatys_config(args: argparse.Namespace):
    """The GatysConfig for the flags given, defaults from `GatysConfig`."""
    from styljax.optimization.gatys import STYLE_LOSSES, default_config
    from styljax.io.image import MIN_SIDE

    if args.size < MIN_SIDE:
        raise StyljaxError(f"--size must be at least {MIN_SIDE} px, got {args.size}")
    style_loss = common.check_choice(args.style_loss, STYLE_LOSSES, "style-loss")
    default = default_config(args.size, style_loss, args.scales)  # scale-aware: weights and pyramid follow --size
    sizes = default.sizes
    steps = common.ints(args.steps, "steps") if args.steps else default.steps_per_scale()
    if len(steps) == 1:
        steps = steps * len(sizes)
    if len(steps) != len(sizes):
        raise StyljaxError(f"--steps: give one number or one per scale ({len(sizes)}), got {args.steps}")
    overrides = dict(
        sizes=sizes,
        steps=steps,
        optimizer=common.check_choice(args.optimizer, ("lbfgs", "adam"), "optimizer"),
        init=args.init if args.init in ("content", "style", "noise") else "content",
        style_scale=args.style_scale,
        color="luminance" if args.preserve_colors else "transfer",
        seed=args.seed,
    )
    if args.style_blend:
        overrides["style_blend"] = common.floats(args.style_blend, "style-blend")
    overrides.update(common.objective_overrides(args))
    try:
        return dataclasses.replace(default, **overrides)
    except ValueError as e:
        raise StyljaxError(str(e)) from None


def run_gatys(args: argparse.Namespace) -> int:
    from styljax.io import image
    from styljax.optimization import gatys

    if args.content is None:
        if len(args.inputs) != 1:
            raise StyljaxError("gatys: give one content image (--content or one input)")
        args.content = args.inputs[0]
    args.size = 512 if args.size is None else args.size
    cfg = gatys_config(args)
    kw = common.load_limits(args)
    content = image.load_image(args.content, max_side=args.size, **kw)
    styles = [image.load_image(s, max_side=round(args.size * args.style_scale), **kw) for s in args.style]
    if cfg.style_blend is not None and len(cfg.style_blend) != len(styles):
        raise StyljaxError(f"--style-blend has {len(cfg.style_blend)} weights for {len(styles)} styles")
    init_image = None
    if args.init not in ("content", "style", "noise"):
        init_image = image.load_image(args.init, **kw)
    out = Path(args.out)
    image.check_output_path(out)
    vgg = cliargs.load_vgg(args, cfg.layers)

    def postfix(step):
        parts = step.parts()
        return dict(size=max(step.image.shape[:2]), loss=f"{step.loss:.4g}", content=f"{parts['content']:.3g}",
                    style=f"{parts['style']:.3g}", tv=f"{parts['tv']:.3g}")

    last, seconds = common.drive_optimisation(
        gatys.iterate(vgg, content, styles, cfg, init_image=init_image, every=common.log_every(args.snapshot_every)),
        total=sum(cfg.steps_per_scale()), desc=f"gatys {cfg.style_loss} {cfg.optimizer}", out=out,
        finish=lambda x: gatys.finish(x, content, cfg), snapshot_every=args.snapshot_every, quiet=args.quiet,
        postfix=postfix)
    result = gatys.finish(last.image, content, cfg)
    result = photo.apply_photoreal(args, content, result)
    image.save_image(out, result)
    parts = last.parts()
    print(
        f"wrote {out} ({result.shape[1]}x{result.shape[0]}) in {seconds:.1f} s; "
        f"loss {last.loss:.4g} (content {parts['content']:.4g}, style {parts['style']:.4g}, tv {parts['tv']:.4g})"
    )
    return 0


def check_method_given(args: argparse.Namespace) -> None:
    """Without --method, stylize runs gatys, which takes a content photo and style image *files*.
    A command meant for a trained model (`--style wave photo.jpg`: argparse hands the photo to
    --style too) would fail later with a message about gatys; name --method instead."""
    no_content = args.content is None and len(args.inputs) != 1
    not_files = [s for s in args.style if not Path(s).is_file()]
    if no_content or not_files:
        what = f"{not_files[0]!r} is not an image file" if not_files else "no --content PHOTO was given"
        raise StyljaxError(f"no --method given, so gatys (the default), which takes --content PHOTO and style image "
                           f"files, and {what}; for a trained model's style give --method "
                           f"{'|'.join(methods.named('renderer'))}")


def run(args: argparse.Namespace) -> int:
    if args.method is None:
        check_method_given(args)
        args.method = "gatys"
    method = methods.get(args.method, "stylize")
    from styljax.io.image import MIN_SIDE

    if args.size is not None and args.size < MIN_SIDE:
        raise StyljaxError(f"--size must be at least {MIN_SIDE} px, got {args.size}")
    args.strength = common.strength(args.strength)
    feedforward = methods.named("renderer")
    if args.strength is not None and method.name not in feedforward:
        raise StyljaxError(f"--strength: for --method {_either(feedforward)}, not {method.name}")
    if getattr(args, "engine", "local") == "ray":  # a Ray Data job over a folder or URI (infer/ray_job.py)
        if method.renderer is None:
            raise StyljaxError(f"--engine ray: for --method {_either(feedforward)}, not {method.name}")
        return ray_job.run_ray(args, method)
    if method.renderer is not None:  # a trained model: the shared feed-forward runner
        from styljax.infer.feedforward import run_feedforward

        return run_feedforward(args, lambda: method.open_renderer(args.model))  # opened once the inputs pass
    return OPTIMISATION_RUNNERS[method.name](args)


# The optimisation methods' runners, by registry name (the feed-forward ones share `run_feedforward`
# over their renderer); `tests/test_methods.py` holds every optimisation method of the registry to one.
OPTIMISATION_RUNNERS = {"gatys": run_gatys, "photo": photo.run_photo}
