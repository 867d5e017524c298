"""Coherent online video style transfer: stability, perturbation, real sequences, speed, memory.

    python -m bench.coherent_video [--cases stability,still,motion,factors,compare,perturb,real,fps,memory]
                          [--model M] [--net1 N]

Cases (one JSON line each; progress on stderr). "per-frame" is plain StyleBank on every frame,
"net1" the online Net₁ (`styljax.nets.coherent`) with the composition its config names (the
default: "output"), "net1_feature" the same nets with the paper's feature composition; all use
the same model and bank.
stability  held-out synthetic clips (`styljax.video.synthetic.eval_clips` on kodim21-24, never used in
           training) with exact flow and traceability: warp error E = mean over t ≥ 1 of
           mean_traceable (O_t − warp(O_{t−1}, W^gt_t))² (`styljax.video.flow.warp_error`), for every
           style of the model with the one Net₁ (trained with one style: the others measure
           transferability); plus the inputs' own E (the resampling floor) and `drift`, the mean
           |O_t − S_t| of Net₁ from the per-frame output (how much it gives up to be stable).
still      six identical frames (each held-out photo) through Net₁, both compositions: the largest
           |O_t − O_1| over t, pixels and photos, in 8-bit levels (0: a still scene stays still).
motion     the stability figures on four held-out motion kinds, one clip per held-out photo:
           camera pan, zoom, rotation (no objects), and 2-3 objects moving over a still
           background; Net₁ with its flow net and with the exact flow (`exact_flow` columns).
factors    where Net₁'s stability comes from, on the stability clips in the trained style: flow
           (the flow net vs exact), mask (the mask net, an oracle from the exact traceability, or
           constants), composition (feature vs output); `ratio` over all transitions and
           `ratio_first2` over the first two (the training clips had 3 frames).
compare    per-frame vs Net₁ vs Ruder et al. 2016 (`styljax.optimization.ruder`, exact flow and traceability)
           on short, small clips (Ruder is slow): warp error and seconds per frame.
perturb    the paper's Fig. 1: a frame I and a perturbed copy I' (5% brighter, or Gaussian noise
           σ = 1e-4); per-frame: mean |S(I') − S(I)|; Net₁: the two-frame stream (I, I'), mean
           |O_2 − O_1|. In 8-bit levels (×255).
real       the real sequences (folders under --video-dir), no ground truth: flow from our flow
           net (backward and forward, upsampled ×4 to image size), traceable where they agree
           (`flow.consistency_mask`); E per style as above.
fps        frames per second of the model alone (frames already in memory, blocking per frame)
           at 256² and 512², per-frame vs Net₁, after compilation.
arbitrary  `styljax video --method arbitrary`: Magenta's arbitrary-style net (the fetched weights) on
           the stability clips, one line per painting under --styles-dir (first 3): per-frame vs
           output-space coherence (`styljax.video.blend`) with the exact flow and traceability and
           with Net₁'s flow net (forward-backward check); `ratio` = coherent / per-frame (goal
           ≤ 0.5), and `still`: the largest |O_t − O_1| over six identical frames, 8-bit levels.
memory     `styljax video` on a 300-frame MP4 (the sipi-6.2 sequence back and forth) in a fresh
           process, with --max-frames 30 and 300: peak resident memory (ru_maxrss) and wall time.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bench.common import emit, log, machine_info, timeit_clean
from styljax.io import data, image
from styljax.video import flow, synthetic
from styljax.nets import stylebank as sb
from styljax.stores import stylebank_store, video_store
from styljax.nets import coherent as vn

CASES = ("stability", "still", "motion", "factors", "compare", "perturb", "real", "fps", "memory", "arbitrary")
# the four held-out motion kinds of the `motion` case (all draws per clip as in training)
_STILL_CAMERA = dict(static_prob=0.0, max_pan=0.0, pan_accel=0.0, max_zoom=0.0, zoom_accel=0.0,
                     max_rotation=0.0, rotation_accel=0.0, n_objects=(0, 0))
MOTIONS = {
    "pan": synthetic.MotionConfig(**{**_STILL_CAMERA, "max_pan": 6.0, "pan_accel": 0.3}),
    "zoom": synthetic.MotionConfig(**{**_STILL_CAMERA, "max_zoom": 0.03, "zoom_accel": 0.002}),
    "rotation": synthetic.MotionConfig(**{**_STILL_CAMERA, "max_rotation": 0.035, "rotation_accel": 0.002}),
    "objects": synthetic.MotionConfig(**{**_STILL_CAMERA, "static_prob": 1.0, "n_objects": (2, 3)}),
}
HELD_OUT = ("kodim21", "kodim22", "kodim23", "kodim24")
TRAIN_BACKGROUNDS = ("kodim01", "kodim03", "kodim05", "kodim07")  # in Net₁'s training set
REPO = Path(__file__).resolve().parent.parent


def _clip_error(outs: jax.Array, flows: jax.Array, traceable: jax.Array) -> float:
    """Mean over t ≥ 1 of the warp error, for outputs (T, 1, H, W, 3), flows (T, 1, H, W, 2)."""
    errs = [float(flow.warp_error(outs[t], outs[t - 1], flows[t], traceable[t])[0]) for t in range(1, outs.shape[0])]
    return float(np.mean(errs))


def _load(args):
    params, cfg, _ = stylebank_store.load_model(args.model)
    net, net_cfg, meta = video_store.load_net1(args.net1)
    return params, cfg, net, net_cfg, meta


def _held_out_clips(args, motion: synthetic.MotionConfig = synthetic.MotionConfig(), size=None, frames=None):
    backgrounds = data.folder_source([Path(args.eval_dir) / f"{n}.png" for n in HELD_OUT], args.eval_short)
    return synthetic.eval_clips([backgrounds[i] for i in range(len(HELD_OUT))], size or args.size,
                                frames or args.frames, seed=0, motion=motion)


def _stability(params, cfg, net, net_cfg, bank, clips, variants) -> dict:
    """Mean warp errors and drifts over `clips` for per-frame and each Net₁ variant
    {name: (net params, net cfg, use exact flow, use exact traceability)}."""
    acc = {"per_frame": [], "input": []}
    for c in clips:
        frames = jnp.asarray(c["frames"])[:, None]
        fl, tr = jnp.asarray(c["flow"])[:, None], jnp.asarray(c["traceable"])[:, None]
        per = vn.stylize_per_frame(params, bank, frames, cfg)
        acc["per_frame"].append(_clip_error(per, fl, tr))
        acc["input"].append(_clip_error(frames, fl, tr))
        acc.setdefault("flow_px", []).append(float(jnp.linalg.norm(fl[1:], axis=-1).mean()))
        for name, (p, ncfg, exact_flow, exact_mask) in variants.items():
            ours, _ = vn.stylize_clip(p, params, bank, frames, cfg, ncfg, True,
                                      fl if exact_flow else None, tr if exact_mask else None)
            acc.setdefault(name, []).append(_clip_error(ours, fl, tr))
            acc.setdefault(name + "_first2", []).append(_clip_error(ours[:3], fl[:3], tr[:3]))
            acc.setdefault(name + "_drift", []).append(float(jnp.abs(ours[1:] - per[1:]).mean()))
        acc.setdefault("per_frame_first2", []).append(_clip_error(per[:3], fl[:3], tr[:3]))
    return {k: float(np.mean(v)) for k, v in acc.items()}


def case_stability(args, models) -> None:
    params, cfg, net, net_cfg, meta = models
    clips = _held_out_clips(args)
    feature = dataclasses.replace(net_cfg, composition="feature")
    variants = {"net1": (net, net_cfg, False, False), "net1_feature": (net, feature, False, False)}
    for style in sorted(params["banks"]):
        r = _stability(params, cfg, net, net_cfg, params["banks"][style], clips, variants)
        emit({"kind": "case", "case": "stability", "style": style, "trained_with": meta.get("style"),
              "composition": net_cfg.composition, "clips": len(clips), "frames": args.frames, "size": args.size,
              "input": r["input"], "per_frame": r["per_frame"], "net1": r["net1"], "drift": r["net1_drift"],
              "ratio": r["net1"] / r["per_frame"], "net1_feature": r["net1_feature"],
              "ratio_feature": r["net1_feature"] / r["per_frame"], "drift_feature": r["net1_feature_drift"]})
        log(f"stability {style}: per-frame {r['per_frame']:.5f} net1 {r['net1']:.5f} feature {r['net1_feature']:.5f}")


def case_still(args, models) -> None:
    params, cfg, net, net_cfg, _ = models
    imgs = [image.load_image(Path(args.eval_dir) / f"{n}.png", max_side=args.size) for n in HELD_OUT]
    for composition in vn.COMPOSITIONS:
        ncfg = dataclasses.replace(net_cfg, composition=composition)
        for style in sorted(params["banks"]):
            worst = 0.0
            for img in imgs:
                clip = jnp.asarray(np.stack([img] * 6))[:, None]
                outs, _ = vn.stylize_clip(net, params, params["banks"][style], clip, cfg, ncfg)
                worst = max(worst, float(jnp.abs(outs[1:] - outs[0]).max()) * 255)
            emit({"kind": "case", "case": "still", "composition": composition, "style": style, "frames": 6,
                  "size": args.size, "max_change_255": worst})
        log(f"still {composition}: done")


def case_motion(args, models) -> None:
    params, cfg, net, net_cfg, meta = models
    feature = dataclasses.replace(net_cfg, composition="feature")
    variants = {"net1": (net, net_cfg, False, False), "net1_exact_flow": (net, net_cfg, True, False),
                "net1_feature": (net, feature, False, False), "net1_feature_exact_flow": (net, feature, True, False)}
    for motion, mcfg in MOTIONS.items():
        clips = _held_out_clips(args, mcfg)
        for style in sorted(params["banks"]):
            r = _stability(params, cfg, net, net_cfg, params["banks"][style], clips, variants)
            out = {"kind": "case", "case": "motion", "motion": motion, "style": style, "trained_with": meta.get("style"),
                   "clips": len(clips), "frames": args.frames, "size": args.size, "flow_px": r["flow_px"],
                   "input": r["input"], "per_frame": r["per_frame"]}
            for v in variants:
                out.update({v: r[v], f"ratio_{v}": r[v] / r["per_frame"], f"drift_{v}": r[f"{v}_drift"]})
            emit(out)
        log(f"motion {motion}: done")


def _constant_mask(net: dict, m: float) -> dict:
    """Net₁ params whose mask net outputs the constant m (zero kernels, bias logit(m))."""
    mask = jax.tree.map(jnp.zeros_like, net["mask"])
    mask["conv3"]["bias"] = jnp.full_like(mask["conv3"]["bias"], np.log(m / (1 - m)) if 0 < m < 1 else 40.0 * (2 * m - 1))
    return {"flow": net["flow"], "mask": mask}


def case_factors(args, models) -> None:
    params, cfg, net, net_cfg, meta = models
    style = meta.get("style") or sorted(params["banks"])[0]
    feature = dataclasses.replace(net_cfg, composition="feature")
    output = dataclasses.replace(net_cfg, composition="output")
    rows = {  # name: (composition, flow, mask, (params, cfg, exact flow, exact traceability))
        "feature/net flow/mask net": (net, feature, False, False),
        "feature/exact flow/mask net": (net, feature, True, False),
        "feature/net flow/oracle mask": (net, feature, False, True),
        "feature/exact flow/oracle mask": (net, feature, True, True),
        "feature/exact flow/M=1": (_constant_mask(net, 1.0), feature, True, False),
        "feature/exact flow/M=0.5": (_constant_mask(net, 0.5), feature, True, False),
        "output/net flow/photometric mask": (net, output, False, False),
        "output/exact flow/photometric mask": (net, output, True, False),
        "output/net flow/oracle mask": (net, output, False, True),
        "output/exact flow/oracle mask": (net, output, True, True),
    }
    for split, names in (("held-out", None), ("training images", TRAIN_BACKGROUNDS)):
        if names is None:
            clips = _held_out_clips(args)
        else:
            bgs = data.folder_source([Path(args.eval_dir) / f"{n}.png" for n in names], args.eval_short)
            clips = synthetic.eval_clips([bgs[i] for i in range(len(names))], args.size, args.frames, seed=0)
            rows = {k: v for k, v in rows.items() if k in ("feature/net flow/mask net", "output/net flow/photometric mask")}
        r = _stability(params, cfg, net, net_cfg, params["banks"][style], clips, rows)
        for name in rows:
            composition, flow_src, mask_src = name.split("/")
            emit({"kind": "case", "case": "factors", "backgrounds": split, "style": style, "composition": composition,
                  "flow": flow_src, "mask": mask_src, "blend": net_cfg.blend, "clips": len(clips), "frames": args.frames,
                  "per_frame": r["per_frame"], "net1": r[name], "ratio": r[name] / r["per_frame"],
                  "ratio_first2": r[name + "_first2"] / r["per_frame_first2"], "drift": r[name + "_drift"]})
        log(f"factors {split}: done")


def case_compare(args, models) -> None:
    """per-frame vs Net₁ vs Ruder on the same short clips; seconds per frame after compilation."""
    from styljax.io import weights
    from styljax.optimization import gatys, ruder

    params, cfg, net, net_cfg, meta = models
    style = meta.get("style") or sorted(params["banks"])[0]
    bank = params["banks"][style]
    painting = image.load_image(Path(args.styles_dir) / f"{style.replace('-', '_')}.jpg", max_side=args.compare_size)
    vgg = weights.resolve("default")
    rcfg = ruder.RuderConfig(gatys=gatys.GatysConfig(sizes=(args.compare_size,), steps=(args.ruder_first_steps,)),
                             first_steps=args.ruder_first_steps, steps=args.ruder_steps)
    for motion in ("pan", "objects"):
        clips = _held_out_clips(args, MOTIONS[motion], args.compare_size, args.compare_frames)[: args.compare_clips]
        for c in clips:
            frames = jnp.asarray(c["frames"])[:, None]
            fl, tr = jnp.asarray(c["flow"])[:, None], jnp.asarray(c["traceable"])[:, None]
            row = {"input": _clip_error(frames, fl, tr)}
            sec = {}
            per = vn.stylize_per_frame(params, bank, frames, cfg)
            row["per_frame"] = _clip_error(per, fl, tr)
            sec["per_frame"] = timeit_clean(lambda: jax.block_until_ready(sb.stylize_bank(params, frames[1], bank, cfg, clip=True)),
                                            warmup=2, min_time=1.0, max_reps=20)["median_s"]
            ours, _ = vn.stylize_clip(net, params, bank, frames, cfg, net_cfg)
            row["net1"] = _clip_error(ours, fl, tr)
            row["drift_net1"] = float(jnp.abs(ours[1:] - per[1:]).mean())
            state, _, _ = vn.stream_step(net, params, bank, vn.init_stream(frames.shape[1:], cfg.features, cfg.dtype),
                                         frames[0], cfg, net_cfg)
            sec["net1"] = timeit_clean(lambda: jax.block_until_ready(vn.stream_step(net, params, bank, state, frames[1], cfg, net_cfg)[1]),
                                       warmup=2, min_time=1.0, max_reps=20)["median_s"]
            t_index = iter(range(1, frames.shape[0]))
            exact = lambda prev, cur, t_index=t_index, c=c: (lambda t: (c["flow"][t], c["traceable"][t]))(next(t_index))
            stamps, outs = [time.perf_counter()], []
            for o in ruder.stylize_frames(vgg, list(c["frames"]), [painting], exact, rcfg):
                outs.append(o)
                stamps.append(time.perf_counter())
            rud = jnp.asarray(np.stack(outs))[:, None]
            row["ruder"] = _clip_error(rud, fl, tr)
            sec["ruder"] = float(np.median(np.diff(stamps)[1:]))  # frames 2…T (frame 1 compiles)
            emit({"kind": "case", "case": "compare", "motion": motion, "style": style, "size": args.compare_size,
                  "frames": args.compare_frames, **row, "ratio_net1": row["net1"] / row["per_frame"],
                  "ratio_ruder": row["ruder"] / row["per_frame"], "seconds_per_frame": sec,
                  "ruder_steps": [rcfg.first_steps, rcfg.steps], "ruder_flow": "exact"})
            log(f"compare {motion}: per-frame {row['per_frame']:.5f} net1 {row['net1']:.5f} ruder {row['ruder']:.5f} s {sec}")


def case_perturb(args, models) -> None:
    params, cfg, net, net_cfg, _ = models
    rng = np.random.default_rng(0)
    imgs = [image.load_image(Path(args.eval_dir) / f"{n}.png", max_side=args.size) for n in HELD_OUT]
    perturbs = {"brighter_5pct": lambda x: np.clip(x * 1.05, 0, 1),
                "noise_1e-4": lambda x: np.clip(x + rng.normal(0, 1e-4, x.shape).astype(np.float32), 0, 1)}
    for style in sorted(params["banks"]):
        bank = params["banks"][style]
        for pname, pf in perturbs.items():
            d_per, d_net = [], []
            for img in imgs:
                clip = jnp.asarray(np.stack([img, pf(img)]))[:, None]
                per = vn.stylize_per_frame(params, bank, clip, cfg)
                ours, _ = vn.stylize_clip(net, params, bank, clip, cfg, net_cfg)
                d_per.append(float(jnp.abs(per[1] - per[0]).mean()))
                d_net.append(float(jnp.abs(ours[1] - ours[0]).mean()))
            emit({"kind": "case", "case": "perturb", "style": style, "perturbation": pname,
                  "input_change_255": float(np.mean([np.abs(pf(i) - i).mean() for i in imgs])) * 255,
                  "per_frame_255": float(np.mean(d_per)) * 255, "net1_255": float(np.mean(d_net)) * 255,
                  "ratio": float(np.mean(d_net) / np.mean(d_per))})


def _sequence(folder: Path, max_side: int | None) -> np.ndarray:
    from styljax.video import frame_io

    _, frames = frame_io.open_frames(folder, max_side=max_side)
    return np.stack(list(frames))


def case_real(args, models) -> None:
    params, cfg, net, net_cfg, _ = models
    for folder in sorted(p for p in Path(args.video_dir).iterdir() if p.is_dir()):
        seq = _sequence(folder, args.real_size)
        frames = jnp.asarray(seq)[:, None]
        hw = seq.shape[1:3]
        def image_flow(prev, cur):  # the flow net's feature flow, ×4 to image pixels
            w = vn.predict_flow(net, prev, cur, net_cfg)
            return flow.resize_flow(w, (4 * w.shape[1], 4 * w.shape[2]))[:, : hw[0], : hw[1]]

        zero_flow = jnp.zeros((1,) + hw + (2,))
        # back[t]: frame t → t−1; fwd[t]: frame t−1 → t (the flow net with the frames swapped)
        back = jnp.stack([zero_flow] + [image_flow(frames[t - 1], frames[t]) for t in range(1, len(seq))])
        fwd = jnp.stack([zero_flow] + [image_flow(frames[t], frames[t - 1]) for t in range(1, len(seq))])
        tr = jnp.stack([jnp.zeros((1,) + hw)] + [flow.consistency_mask(back[t], fwd[t]) for t in range(1, len(seq))])
        for style in sorted(params["banks"]):
            bank = params["banks"][style]
            per = vn.stylize_per_frame(params, bank, frames, cfg)
            ours, _ = vn.stylize_clip(net, params, bank, frames, cfg, net_cfg)
            e_per, e_net = _clip_error(per, back, tr), _clip_error(ours, back, tr)
            emit({"kind": "case", "case": "real", "sequence": folder.name, "frames": int(seq.shape[0]),
                  "size": f"{hw[1]}x{hw[0]}", "style": style, "traceable": float(tr[1:].mean()),
                  "input": _clip_error(frames, back, tr), "per_frame": e_per, "net1": e_net,
                  "ratio": e_net / e_per})
        log(f"real {folder.name}: done")


def case_fps(args, models) -> None:
    params, cfg, net, net_cfg, _ = models
    bank = params["banks"][sorted(params["banks"])[0]]
    for size in args.fps_sizes:
        img = image.load_image(Path(args.eval_dir) / f"{HELD_OUT[0]}.png", size=(size, size))
        x = jnp.asarray(img)[None]
        state = vn.init_stream(x.shape, cfg.features, cfg.dtype)
        state, _, _ = vn.stream_step(net, params, bank, state, x, cfg, net_cfg)

        def ours():
            jax.block_until_ready(vn.stream_step(net, params, bank, state, x, cfg, net_cfg)[1])

        def per():
            jax.block_until_ready(sb.stylize_bank(params, x, bank, cfg, clip=True))

        for name, fn in (("per_frame", per), ("net1", ours)):
            st = timeit_clean(fn, warmup=2, min_time=3.0, max_reps=30)
            emit({"kind": "case", "case": "fps", "size": size, "mode": name, "fps": 1.0 / st["median_s"], **st})
            log(f"fps {size} {name}: {1.0 / st['median_s']:.2f}")


def case_memory(args, models) -> None:
    from styljax.video import frame_io

    seq = _sequence(Path(args.video_dir) / "sipi-6.2", 256)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip300.mp4"
        order = np.concatenate([np.arange(len(seq)), np.arange(len(seq) - 2, 0, -1)])
        with frame_io.FrameWriter(clip, 25) as w:
            for i in range(300):
                w.write(seq[order[i % len(order)]])
        for n in (30, 300):
            for mode in ([], ["--per-frame"]):
                cmd = [sys.executable, "-m", "infer", "video", str(clip), "--model", str(args.model),
                       "--net1", str(args.net1), "--style", sorted(models[0]["banks"])[0],
                       "--out", str(Path(tmp) / "out.mp4"), "--max-frames", str(n), "--quiet"] + mode
                t0 = time.perf_counter()
                out_f, err_f = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
                proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, text=True, cwd=REPO)
                _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (peak RSS)
                proc.returncode = os.waitstatus_to_exitcode(status)
                wall = time.perf_counter() - t0
                out_f.seek(0), err_f.seek(0)
                if proc.returncode != 0:
                    raise SystemExit(err_f.read())
                summary = out_f.read().strip().splitlines()[-1]
                emit({"kind": "case", "case": "memory", "frames": n, "size": "256x256",
                      "mode": "per_frame" if mode else "net1", "wall_s": wall,
                      "peak_rss_mib": usage.ru_maxrss / 1024, "summary": summary})
                log(summary)


def _blend_clip(stylize, frames, flows, masks) -> list:
    """Coherent outputs of frames (T, 1, H, W, 3): fresh stylizations composed with the previous
    output where `masks(t, prev_in, x)` (B, H, W) says a pixel is reused (`styljax.video.blend`)."""
    from styljax.video import blend

    outs = []
    for t in range(frames.shape[0]):
        fresh = stylize(frames[t])
        outs.append(fresh if t == 0 else blend.compose(outs[-1], fresh, flows(t), masks(t)))
    return outs


def case_arbitrary(args, models) -> None:
    from styljax import methods
    from styljax.video import blend

    _, _, net, net_cfg, _ = models
    renderer = methods.get("arbitrary").open_renderer(None)
    paintings = sorted(image.list_images(args.styles_dir))[:3]
    clips = _held_out_clips(args)
    for painting in paintings:
        v = renderer.painting_vector(painting)
        stylize = lambda x: renderer.stylize_with(x, {"vector": jnp.asarray(v)})  # noqa: E731
        acc = {"per_frame": [], "exact_flow": [], "flow_net": [], "drift": []}
        for c in clips:
            frames = jnp.asarray(c["frames"])[:, None]
            fl, tr = jnp.asarray(c["flow"])[:, None], jnp.asarray(c["traceable"])[:, None]
            per = jnp.stack([stylize(frames[t]) for t in range(frames.shape[0])])
            acc["per_frame"].append(_clip_error(per, fl, tr))
            exact = _blend_clip(stylize, frames, lambda t: fl[t],
                                lambda t: tr[t] * blend.same_input(frames[t - 1], frames[t], fl[t]))
            acc["exact_flow"].append(_clip_error(jnp.stack(exact), fl, tr))
            hw = frames.shape[2:4]

            def net_flows(t):
                p, x = frames[t - 1], frames[t]
                back = vn.select_zero_flow(p, x, vn.image_flow(vn.predict_flow(net, p, x, net_cfg), hw),
                                           net_cfg.trace_window)[0]
                fwd = vn.select_zero_flow(x, p, vn.image_flow(vn.predict_flow(net, x, p, net_cfg), hw),
                                          net_cfg.trace_window)[0]
                return back, fwd

            pairs = {t: net_flows(t) for t in range(1, frames.shape[0])}
            ours = _blend_clip(stylize, frames, lambda t: pairs[t][0],
                               lambda t: blend.reuse_mask(frames[t - 1], frames[t], *pairs[t]))
            acc["flow_net"].append(_clip_error(jnp.stack(ours), fl, tr))
            acc["drift"].append(float(jnp.abs(jnp.stack(ours)[1:] - per[1:]).mean()))
        r = {k: float(np.mean(a)) for k, a in acc.items()}
        still_in = jnp.asarray(image.load_image(Path(args.eval_dir) / f"{HELD_OUT[0]}.png", max_side=args.size))[None]
        zero = jnp.zeros(still_in.shape[:3] + (2,))
        outs = _blend_clip(stylize, jnp.stack([still_in] * 6), lambda t: zero,
                           lambda t: blend.reuse_mask(still_in, still_in, zero, zero))
        still = max(float(jnp.abs(o - outs[0]).max()) for o in outs) * 255
        emit({"kind": "case", "case": "arbitrary", "painting": Path(painting).name, "clips": len(clips),
              "frames": args.frames, "size": args.size, **r, "ratio_exact_flow": r["exact_flow"] / r["per_frame"],
              "ratio_flow_net": r["flow_net"] / r["per_frame"], "still_max_levels": still})
        log(f"arbitrary {Path(painting).name}: per-frame {r['per_frame']:.5f} exact {r['exact_flow']:.5f} "
            f"flow net {r['flow_net']:.5f}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--model", default=str(REPO / "checkpoints" / "video" / "stylebank"), help="the StyleBank the Net1 was trained with")
    p.add_argument("--net1", default=str(REPO / "checkpoints" / "video"))
    p.add_argument("--eval-dir", default=str(REPO.parent / "shared" / "data" / "content" / "kodak"))
    p.add_argument("--video-dir", default=str(REPO.parent / "shared" / "data" / "video"))
    p.add_argument("--size", type=int, default=128, help="stability clips' frame side")
    p.add_argument("--eval-short", type=int, default=256, help="held-out backgrounds' short side")
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--real-size", type=int, default=256, help="real sequences' max side")
    p.add_argument("--fps-sizes", default="256,512")
    p.add_argument("--styles-dir", default=str(REPO.parent / "shared" / "data" / "styles"), help="paintings (compare: Ruder)")
    p.add_argument("--compare-size", type=int, default=64, help="compare: frame side (Ruder is slow)")
    p.add_argument("--compare-frames", type=int, default=4)
    p.add_argument("--compare-clips", type=int, default=1, help="compare: clips per motion kind")
    p.add_argument("--ruder-first-steps", type=int, default=100)
    p.add_argument("--ruder-steps", type=int, default=50)
    args = p.parse_args(argv)
    args.fps_sizes = [int(s) for s in args.fps_sizes.split(",")]
    emit({"kind": "header", **machine_info()})
    models = _load(args)
    for case in args.cases.split(","):
        {"stability": case_stability, "still": case_still, "motion": case_motion, "factors": case_factors,
         "compare": case_compare, "perturb": case_perturb, "real": case_real,
         "fps": case_fps, "memory": case_memory, "arbitrary": case_arbitrary}[case](args, models)


if __name__ == "__main__":
    main()
