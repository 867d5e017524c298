"""Gatys optimisation: seconds and steps to reach a fixed loss, L-BFGS vs Adam, 256 and 512 px.

    python -m bench.gatys [--sizes 256,512] [--max-steps 300] [--quick]

For each size the target is fixed once, from a reference L-BFGS run: target = `slack` x the loss
L-BFGS reaches after `ref_steps` steps (default 1.5 x its loss at step 100). Then each optimiser
(L-BFGS with optax's zoom line search; Adam lr 0.02 in [0,1] pixel units) runs from the content
image until its total loss (content + style + TV, weighted as the CLI defaults) is at or below the
target, or `max_steps`. Single scale, real VGG-16 weights (`styljax weights fetch`), the demo pair
(scikit-image astronaut + immunohistochemistry). Seconds exclude compilation (timed from step 2).
One JSON line per case.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from bench.common import emit, log, machine_info
from styljax.io import image, weights
from styljax.imaging import geometry
from styljax.optimization import gatys


def _demo_pair(size: int):
    import skimage.data

    c = np.asarray(skimage.data.astronaut(), np.float32) / 255.0
    s = np.asarray(skimage.data.immunohistochemistry(), np.float32) / 255.0
    fit = lambda x: np.asarray(geometry.resize(x, image.fit_max_side(*x.shape[:2], size)))
    return fit(c), fit(s)


def run_until(w, content, style, cfg, target: float | None, max_steps: int):
    """(losses per step, seconds per step excluding the first, steps to reach target or None)."""
    cfg = dataclasses.replace(cfg, steps=(max_steps,))
    losses, times = [], []
    t_prev = time.perf_counter()
    reached = None
    for st in gatys.iterate(w, content, [style], cfg):
        losses.append(st.loss)
        now = time.perf_counter()
        times.append(now - t_prev)
        t_prev = now
        if target is not None and st.loss <= target and reached is None:
            reached = st.global_step
            break
    return losses, times, reached


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--max-steps", type=int, default=300)
    ap.add_argument("--ref-steps", type=int, default=100)
    ap.add_argument("--slack", type=float, default=1.5)
    ap.add_argument("--quick", action="store_true", help="256 px, 60 steps")
    args = ap.parse_args(argv)
    sizes = [256] if args.quick else [int(s) for s in args.sizes.split(",")]
    ref_steps = 40 if args.quick else args.ref_steps
    max_steps = 60 if args.quick else args.max_steps

    emit({"bench": "gatys", **machine_info()})
    w = weights.load_default()
    base = gatys.GatysConfig()
    for size in sizes:
        content, style = _demo_pair(size)
        cfg = dataclasses.replace(base, sizes=(size,), steps=(1,))
        log(f"{size}px: reference L-BFGS run, {ref_steps} steps")
        ref, _, _ = run_until(w, content, style, dataclasses.replace(cfg, optimizer="lbfgs"), None, ref_steps)
        target = args.slack * ref[-1]
        for opt in ("lbfgs", "adam"):
            log(f"{size}px: {opt} to loss <= {target:.4g}")
            t0 = time.perf_counter()
            losses, times, reached = run_until(
                w, content, style, dataclasses.replace(cfg, optimizer=opt), target, max_steps
            )
            steady = float(np.median(times[1:])) if len(times) > 1 else float("nan")
            emit({
                "case": f"gatys_{opt}_{size}px", "size": size, "optimizer": opt,
                "target_loss": target, "initial_loss": losses[0], "final_loss": losses[-1],
                "steps_to_target": reached, "reached": reached is not None, "max_steps": max_steps,
                "seconds_to_target": float(np.sum(times[1:])) + steady if reached else None,
                "wall_s_incl_compile": time.perf_counter() - t0,
                "s_per_step": steady,
            })


if __name__ == "__main__":
    main()
