"""`styljax video`: online, temporally coherent video stylization (StyleBank + Net₁).

    styljax video INPUT(dir|file) --style NAME|a:0.7,b:0.3 --out out.mp4|out.gif|DIR/ \
        [--model M] [--net1 N] [--per-frame] [--side-by-side] [--size PX] [--max-frames N] \
        [--composition output|feature]
    styljax video INPUT --method ruder --style painting.jpg --out out.mp4 [--steps 50 --first-steps 100]

One frame in, one frame out: frames are decoded, stylized and encoded one at a time, so memory
does not grow with the length of the video. `--per-frame` is the baseline (every frame through
plain StyleBank); `--side-by-side` writes input | per-frame | Net₁ in one frame.

`--method ruder` is Ruder et al. 2016 (`styljax.optimization.ruder`): a Gatys optimisation per frame, started
from the previous output warped by the flow, with a temporal loss on traceable pixels; `--style`
is then a painting file. Its flow is Net₁'s flow net, run both ways for the forward-backward
check. Slow (over a second per frame on 2 CPU cores at 64 px): use a small --size.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from styljax.infer import common
from styljax.runtime import cliargs
from styljax.io import checkpoints
from styljax.errors import StyljaxError

# Net₁ works on the features of the StyleBank it was trained with, so the shipped Net₁ carries that
# model (checkpoints/video/stylebank); a Net₁ trained on the current checkpoints/stylebank can
# use it with --model.
NET1_STYLEBANK = "stylebank"  # the StyleBank model's folder inside the shipped Net₁'s


def default_net1() -> Path:
    """The shipped Net₁ (`styljax.io.checkpoints`)."""
    from styljax import methods

    return methods.get("video").default_model_path()


def register(sub) -> None:
    p = sub.add_parser("video", help="stylize a video online (temporally coherent)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="a video file (mp4, mov, gif, ...) or a folder of frames")
    p.add_argument("--style", required=True,
                   help="a style of the model, or a linear fusion a:0.7,b:0.3 (--method ruder: a painting file)")
    p.add_argument("--method", default="net1", choices=("net1", "ruder", "arbitrary"),
                   help="net1: StyleBank + Net1, online (default); ruder: Ruder et al. 2016 optimisation; "
                        "arbitrary: Magenta's arbitrary-style net on a painting file, made coherent in output "
                        "space (styljax.video.blend)")
    p.add_argument("--out", required=True, help="output .mp4/.mkv/.webm/.gif, or a folder (ending in /) for PNG frames")
    p.add_argument("--model", default=None,
                   help=f"StyleBank model directory (default: {checkpoints.describe('video')}/{NET1_STYLEBANK})")
    p.add_argument("--net1", default=None, help=f"trained flow+mask nets (default: {checkpoints.describe('video')})")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--per-frame", action="store_true", help="baseline: plain StyleBank on every frame")
    mode.add_argument("--side-by-side", action="store_true", help="write input | per-frame | coherent side by side")
    p.add_argument("--size", type=int, default=None, help="resize frames to this max side (px)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    p.add_argument("--fps", type=float, default=None, help="output frame rate (default: the input's)")
    p.add_argument("--composition", default=None, choices=vn_compositions(),
                   help="net1: composite decoded frames (output, the default) or features (feature, the paper's)")
    r = p.add_argument_group("--method ruder")
    r.add_argument("--steps", type=int, default=50, help="L-BFGS steps per frame after the first (default 50)")
    r.add_argument("--first-steps", type=int, default=100, help="L-BFGS steps on the first frame (default 100)")
    r.add_argument("--temporal-weight", type=float, default=None, help="weight of the temporal loss (default: Ruder's)")
    cliargs.add_weights_arg(r)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def vn_compositions() -> tuple[str, ...]:
    # the names only: importing styljax.nets.coherent here would import JAX for `--help`
    return ("output", "feature")


def run(args: argparse.Namespace) -> int:
    import jax.numpy as jnp
    import numpy as np

    from styljax.imaging import sheets
    from styljax.video import frame_io
    from styljax.render import StyleSpec
    from styljax.nets import stylebank as sb
    from styljax.stores import stylebank_store, video_store
    from styljax.nets import coherent as vn

    if args.size is not None and args.size < 16:
        raise StyljaxError(f"--size must be at least 16 px, got {args.size}")
    if args.max_frames is not None and args.max_frames < 1:
        raise StyljaxError(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.method == "ruder":
        return run_ruder(args)
    if args.method == "arbitrary":
        return run_arbitrary(args)
    model = Path(args.model) if args.model else default_net1() / NET1_STYLEBANK
    params, cfg, manifest = stylebank_store.load_model(model)
    spec = StyleSpec.parse(args.style, sorted(params["banks"]))
    if spec.every:
        raise StyljaxError("--style: one style or a fusion a:0.7,b:0.3 (not 'all')")
    bank = sb.fuse_linear(params["banks"], spec.weight_map) if spec.mode == "fusion" else params["banks"][spec.names[0]]
    net1 = net_cfg = None
    if not args.per_frame:
        net1_path = Path(args.net1) if args.net1 else default_net1()
        net1, net_cfg, net_meta = video_store.load_net1(net1_path)
        video_store.check_autoencoder(net_meta, manifest, net1_path, model)
        if args.composition:
            net_cfg = dataclasses.replace(net_cfg, composition=args.composition)
    info, frames = frame_io.open_frames(args.input, max_side=args.size, max_frames=args.max_frames)
    fps = args.fps or info.fps
    total = info.n_frames if args.max_frames is None or info.n_frames is None else min(info.n_frames, args.max_frames)
    bar = common.progress(total, "video", disable=args.quiet)
    state = None
    n, t0, t_first = 0, time.perf_counter(), None
    with frame_io.FrameWriter(args.out, fps) as writer:
        for frame in frames:
            x = jnp.asarray(frame, jnp.float32)[None]
            if args.per_frame or args.side_by_side:
                per_frame = sb.stylize_bank(params, x, bank, cfg, clip=True)
            if not args.per_frame:
                if state is None:
                    state = vn.init_stream(x.shape, cfg.features, cfg.dtype)
                state, coherent, _ = vn.stream_step(net1, params, bank, state, x, cfg, net_cfg)
            if args.side_by_side:
                out = sheets.contact_sheet([frame, np.asarray(per_frame[0]), np.asarray(coherent[0])], ncols=3,
                                          labels=["input", "per-frame", "coherent (Net1)"])
            else:
                out = np.asarray((per_frame if args.per_frame else coherent)[0])
            writer.write(out)
            n += 1
            if t_first is None:
                t_first = time.perf_counter() - t0  # includes compilation
            bar.update(1)
    bar.close()
    wall = time.perf_counter() - t0
    steady = (n - 1) / (wall - t_first) if n > 1 and wall > t_first else float("nan")
    mode = "per-frame" if args.per_frame else "side-by-side" if args.side_by_side else "coherent"
    # the frames written (side by side: three panels and their labels), not the input's
    print(f"wrote {args.out}: {n} frames {out.shape[1]}x{out.shape[0]} ({mode}) in {wall:.1f} s, "
          f"{n / wall:.2f} fps overall, {steady:.2f} fps after the first frame")
    return 0


def _net1_flows(args, hw):
    """(prev, cur) -> (backward, forward) image flows from Net₁'s flow net, the zero-flow candidate
    taken where it explains the pair as well (so a still scene gives exactly zero flow)."""
    import jax.numpy as jnp

    from styljax.nets import coherent as vn
    from styljax.stores import video_store

    net1, net_cfg, _ = video_store.load_net1(Path(args.net1) if args.net1 else default_net1())

    def flows(prev, cur):
        p, c = jnp.asarray(prev)[None], jnp.asarray(cur)[None]
        back = vn.image_flow(vn.predict_flow(net1, p, c, net_cfg), hw)
        back, _ = vn.select_zero_flow(p, c, back, net_cfg.trace_window)
        fwd = vn.image_flow(vn.predict_flow(net1, c, p, net_cfg), hw)
        fwd, _ = vn.select_zero_flow(c, p, fwd, net_cfg.trace_window)
        return back, fwd

    return flows


def run_arbitrary(args: argparse.Namespace) -> int:
    """`--method arbitrary`: each frame through the arbitrary-style net, then composed with the
    previous output warped along the flow where it traces back (`styljax.video.blend`);
    `--per-frame` writes the fresh stylizations alone."""
    import jax.numpy as jnp
    import numpy as np

    from styljax import methods
    from styljax.imaging import sheets
    from styljax.render import StyleSpec
    from styljax.video import blend, frame_io

    renderer = methods.get("arbitrary").open_renderer(args.model)
    spec = StyleSpec.parse(renderer.prepare_styles(args.style, what="--style"), renderer.styles)
    if spec.every or spec.regional:
        raise StyljaxError("--style: a painting, a stored style or a mix a.jpg:0.7,b.jpg:0.3 (not 'all')")
    style = renderer.style_params(spec)
    info, frames = frame_io.open_frames(args.input, max_side=args.size, max_frames=args.max_frames)
    hw = (info.height, info.width)
    flows = None if args.per_frame else _net1_flows(args, hw)
    total = info.n_frames if args.max_frames is None or info.n_frames is None else min(info.n_frames, args.max_frames)
    bar = common.progress(total, "video", disable=args.quiet)
    prev_in = prev_out = None
    n, t0 = 0, time.perf_counter()
    with frame_io.FrameWriter(args.out, args.fps or info.fps) as writer:
        for frame in frames:
            x = jnp.asarray(frame, jnp.float32)[None]
            fresh = renderer.stylize_with(x, style)
            coherent = fresh
            if flows is not None and prev_out is not None:
                back, fwd = flows(prev_in[0], x[0])
                coherent = blend.compose(prev_out, fresh, back, blend.reuse_mask(prev_in, x, back, fwd))
            prev_in, prev_out = x, coherent
            if args.side_by_side:
                out = sheets.contact_sheet([frame, np.asarray(fresh[0]), np.asarray(coherent[0])], ncols=3,
                                          labels=["input", "per-frame", "coherent"])
            else:
                out = np.asarray(coherent[0])
            writer.write(out)
            n += 1
            bar.update(1)
    bar.close()
    wall = time.perf_counter() - t0
    print(f"wrote {args.out}: {n} frames {hw[1]}x{hw[0]} (arbitrary) in {wall:.1f} s")
    return 0


def run_ruder(args: argparse.Namespace) -> int:
    """`--method ruder`: Ruder et al. 2016 frame by frame, flow from Net₁'s flow net."""
    import jax.numpy as jnp
    import numpy as np

    from styljax.io import image
    from styljax.optimization import gatys, ruder
    from styljax.video import frame_io
    from styljax.nets import coherent as vn
    from styljax.stores import video_store

    if args.per_frame or args.side_by_side:
        raise StyljaxError("--per-frame and --side-by-side are for --method net1")
    if args.steps < 1 or args.first_steps < 1:
        raise StyljaxError(f"--steps and --first-steps must be >= 1, got {args.steps}, {args.first_steps}")
    style_path = Path(args.style)
    if not style_path.is_file():
        raise StyljaxError(f"--style {args.style}: --method ruder takes a painting file")
    net1, net_cfg, _ = video_store.load_net1(Path(args.net1) if args.net1 else default_net1())
    info, frames = frame_io.open_frames(args.input, max_side=args.size, max_frames=args.max_frames)
    style = image.load_image(style_path, max_side=max(info.height, info.width))
    cfg = ruder.RuderConfig(
        gatys=gatys.GatysConfig(sizes=(max(info.height, info.width),), steps=(args.first_steps,)),
        first_steps=args.first_steps, steps=args.steps,
        temporal_weight=ruder.RUDER_TEMPORAL_WEIGHT if args.temporal_weight is None else args.temporal_weight,
    )
    vgg = cliargs.load_vgg(args, cfg.gatys.layers)
    hw = (info.height, info.width)

    def flows(prev, cur):  # the flow net both ways (image pixels), Ruder's traceable mask
        p, c = jnp.asarray(prev)[None], jnp.asarray(cur)[None]
        back = vn.image_flow(vn.predict_flow(net1, p, c, net_cfg), hw)
        back, _ = vn.select_zero_flow(p, c, back, net_cfg.trace_window)
        fwd = vn.image_flow(vn.predict_flow(net1, c, p, net_cfg), hw)
        fwd, _ = vn.select_zero_flow(c, p, fwd, net_cfg.trace_window)
        return back[0], ruder.traceable_mask(back, fwd)[0]

    total = info.n_frames if args.max_frames is None or info.n_frames is None else min(info.n_frames, args.max_frames)
    bar = common.progress(total, "ruder", disable=args.quiet)
    n, t0 = 0, time.perf_counter()
    with frame_io.FrameWriter(args.out, args.fps or info.fps) as writer:
        for out in ruder.stylize_frames(vgg, frames, [style], flows, cfg):
            writer.write(np.asarray(out))
            n += 1
            bar.update(1)
    bar.close()
    wall = time.perf_counter() - t0
    print(f"wrote {args.out}: {n} frames {hw[1]}x{hw[0]} (ruder) in {wall:.1f} s, {wall / max(n, 1):.1f} s per frame")
    return 0
