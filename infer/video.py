"""`styljax video`: online, temporally coherent video stylisation (StyleBank + Net₁).

    styljax video INPUT(dir|file) --style NAME|a:0.7,b:0.3 --out out.mp4|out.gif|DIR/ \
        [--model M] [--net1 N] [--per-frame] [--side-by-side] [--size PX] [--max-frames N]

One frame in, one frame out: frames are decoded, stylised and encoded one at a time, so memory
does not grow with the length of the video. `--per-frame` is the baseline (every frame through
plain StyleBank); `--side-by-side` writes input | per-frame | Net₁ in one frame.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from styljax.infer import common
from styljax import checkpoints
from styljax.errors import StyljaxError

# Net₁ works on the features of the StyleBank it was trained with, so the shipped Net₁ carries that
# model (checkpoints/video/stylebank); a Net₁ trained on the current checkpoints/stylebank can
# use it with --model.
NET1_STYLEBANK = "stylebank"  # the StyleBank model's folder inside the shipped Net₁'s


def default_net1() -> Path:
    """The shipped Net₁ (`styljax.checkpoints`)."""
    from styljax import methods

    return methods.get("video").default_model_path()


def register(sub) -> None:
    p = sub.add_parser("video", help="stylise a video online (temporally coherent)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="a video file (mp4, mov, gif, ...) or a folder of frames")
    p.add_argument("--style", required=True, help="a style of the model, or a linear fusion a:0.7,b:0.3")
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
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import jax.numpy as jnp
    import numpy as np

    from styljax import image, video
    from styljax.render import StyleSpec
    from styljax.models import stylebank as sb
    from styljax.models import stylebank_store, video_store
    from styljax.models import video as vn

    if args.size is not None and args.size < 16:
        raise StyljaxError(f"--size must be >= 16, got {args.size}")
    if args.max_frames is not None and args.max_frames < 1:
        raise StyljaxError(f"--max-frames must be >= 1, got {args.max_frames}")
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
    info, frames = video.open_frames(args.input, max_side=args.size, max_frames=args.max_frames)
    fps = args.fps or info.fps
    total = info.n_frames if args.max_frames is None or info.n_frames is None else min(info.n_frames, args.max_frames)
    bar = common.progress(total, "video", disable=args.quiet)
    state = None
    n, t0, t_first = 0, time.perf_counter(), None
    with video.FrameWriter(args.out, fps) as writer:
        for frame in frames:
            x = jnp.asarray(frame, jnp.float32)[None]
            if args.per_frame or args.side_by_side:
                per_frame = sb.stylize_bank(params, x, bank, cfg, clip=True)
            if not args.per_frame:
                if state is None:
                    state = vn.init_stream(x.shape, cfg.features, cfg.dtype)
                state, coherent, _ = vn.stream_step(net1, params, bank, state, x, cfg, net_cfg)
            if args.side_by_side:
                out = image.contact_sheet([frame, np.asarray(per_frame[0]), np.asarray(coherent[0])], ncols=3,
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
    print(f"wrote {args.out}: {n} frames {frame.shape[1]}x{frame.shape[0]} ({mode}) in {wall:.1f} s, "
          f"{n / wall:.2f} fps overall, {steady:.2f} fps after the first frame")
    return 0
