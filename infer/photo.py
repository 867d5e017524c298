"""`styljax stylize --method photo`: Deep Photo Style Transfer; `--photoreal` for any method's output.

    styljax stylize --method photo --content A --style B [--content-mask MA --style-mask MB | --auto-masks K] \
        [--steps 200,200] [--matting-weight 1e4] [--size 512] --out x.png
    styljax stylize --method gatys --content A --style B --photoreal [--photoreal-radius 15] --out x.png
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from styljax.infer import common
from styljax.runtime import cliargs
from styljax.errors import StyljaxError


def add_args(parser: argparse.ArgumentParser) -> None:
    """The `photo` argument group of `styljax stylize` (masks, matting weight, --photoreal)."""
    g = parser.add_argument_group("photo (Deep Photo Style Transfer; --steps A,B = stage 1, stage 2 steps)")
    g.add_argument("--content-mask", default=None,
                   help="colour-coded regions of the content (blue, green, black, white, red, yellow, "
                        "grey, lightblue, purple); needs --style-mask")
    g.add_argument("--style-mask", default=None, help="colour-coded regions of the style, same colours")
    g.add_argument("--auto-masks", type=int, default=None, metavar="K",
                   help="instead of mask files: K luminance zones per image, paired darkest to brightest")
    g.add_argument("--matting-weight", type=float, default=None,
                   help="λ of the matting-Laplacian photorealism term (default 1e4; a sum over pixels)")
    g.add_argument("--photoreal", action="store_true",
                   help="any method: refit the result as a local affine colour transform of the content "
                        "(colour guided filter) before saving")
    g.add_argument("--photoreal-radius", type=int, default=None, help="guided-filter window radius, px (default 15)")
    g.add_argument("--photoreal-eps", type=float, default=None,
                   help="guided-filter ridge ε on [0, 1] colours (default 1e-4; larger = smoother)")


def apply_photoreal(args: argparse.Namespace, content, result):
    """`result` refit on `content` by `styljax.imaging.guided.photoreal` when --photoreal is set, else as is."""
    if not getattr(args, "photoreal", False):
        return result
    from styljax.imaging import guided

    radius = guided.PHOTOREAL_RADIUS if args.photoreal_radius is None else args.photoreal_radius
    eps = guided.PHOTOREAL_EPS if args.photoreal_eps is None else args.photoreal_eps
    if radius < 1 or not eps > 0:
        raise StyljaxError(f"--photoreal-radius must be >= 1 and --photoreal-eps > 0, got {radius}, {eps}")
    return guided.photoreal(content, result, radius, eps)


def photo_config(args: argparse.Namespace, size: int):
    """The PhotoConfig for the flags given, defaults from `PhotoConfig`."""
    from styljax.optimization.dpst import PhotoConfig

    overrides = dict(max_side=size, seed=args.seed,
                     optimizer=common.check_choice(args.optimizer, ("lbfgs", "adam"), "optimizer"),
                     init=common.check_choice(args.init, ("content", "noise"), "init"))
    if args.steps:
        steps = common.ints(args.steps, "steps")
        if len(steps) not in (1, 2):
            raise StyljaxError(f"--steps: give one number or two (stage 1, stage 2), got {args.steps}")
        overrides["steps"] = steps * 2 if len(steps) == 1 else steps
    overrides.update(common.objective_overrides(args, matting_weight="matting_weight"))
    try:
        return dataclasses.replace(PhotoConfig(), **overrides)
    except ValueError as e:
        raise StyljaxError(str(e)) from None


def load_masks(args: argparse.Namespace, content, style):
    """Paired (content, style) region masks from --content-mask/--style-mask or --auto-masks, or
    (None, None) for the plain style loss."""
    from styljax.optimization import region_masks

    files = (args.content_mask, args.style_mask)
    if args.auto_masks is not None:
        if any(files):
            raise StyljaxError("--auto-masks replaces --content-mask/--style-mask: give one or the other")
        if args.auto_masks < 1:
            raise StyljaxError(f"--auto-masks must be >= 1, got {args.auto_masks}")
        return region_masks.auto_masks(content, style, args.auto_masks, seed=args.seed)
    if not any(files):
        return None, None
    if not all(files):
        raise StyljaxError("--content-mask and --style-mask go together")
    return region_masks.pair_masks(
        region_masks.load_color_masks(args.content_mask, content.shape[:2]),
        region_masks.load_color_masks(args.style_mask, style.shape[:2]),
    )


def run_photo(args: argparse.Namespace) -> int:
    from styljax.io import image
    from styljax.optimization import dpst

    if args.content is None:
        if len(args.inputs) != 1:
            raise StyljaxError("photo: give one content image (--content or one input)")
        args.content = args.inputs[0]
    if len(args.style) != 1:
        raise StyljaxError(f"photo: give one style image, got {len(args.style)}")
    size = 512 if args.size is None else args.size
    if size < 16:
        raise StyljaxError(f"--size must be at least 16, got {size}")
    cfg = photo_config(args, size)
    kw = common.load_limits(args)
    content = image.load_image(args.content, max_side=size, **kw)
    style = image.load_image(args.style[0], max_side=size, **kw)
    if min(content.shape[:2]) < 2 * cfg.matting_radius + 1:
        raise StyljaxError(f"{args.content}: {content.shape[1]}x{content.shape[0]} at --size {size} is too thin")
    content_masks, style_masks = load_masks(args, content, style)
    out = Path(args.out)
    image.check_output_path(out)
    vgg = cliargs.load_vgg(args, cfg.layers)

    last, seconds = common.drive_optimisation(
        dpst.iterate(vgg, content, style, cfg, content_masks, style_masks, every=common.log_every(args.snapshot_every)),
        total=sum(cfg.steps), desc="photo", out=out, finish=dpst.finish, snapshot_every=args.snapshot_every,
        quiet=args.quiet,
        postfix=lambda step: dict(stage=step.stage + 1, loss=f"{step.loss:.4g}",
                                  **{k: f"{v:.3g}" for k, v in step.parts().items()}))
    result = apply_photoreal(args, content, dpst.finish(last.image))
    image.save_image(out, result)
    parts = last.parts()
    regions = 1 if content_masks is None else len(content_masks)
    print(
        f"wrote {out} ({result.shape[1]}x{result.shape[0]}) in {seconds:.1f} s; "
        f"loss {last.loss:.4g} (" + ", ".join(f"{k} {v:.4g}" for k, v in parts.items())
        + f"); {regions} region(s)"
    )
    return 0
