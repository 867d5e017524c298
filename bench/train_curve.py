"""The StyleBank loss curve over the first steps, to compare two versions of the training step.

    python -m bench.train_curve [--steps 50] > curve.json        # in each checkout, then compare

Random init, batch 4 of 128 px crops of four scikit-image photos (160 px short side), two
scikit-image style images, the paper loss, lr 1e-3, the T+1 schedule: one JSON list of the
per-step losses (stylizing steps: the perceptual loss; every third step: the identity loss).
Deterministic for a given library version and XLA build, so two checkouts can be compared step by
step (BENCHMARKS.md, issue #18: windowed means, since Adam amplifies float rounding after ~20 steps).
"""

from __future__ import annotations

import argparse
import json

import jax
import numpy as np

from styljax.io.samples import skimage_image
from styljax.io import data, weights
from styljax.tasks.stylebank import StyleBankLoss, StyleBankTask, StyleBankTrainConfig
from styljax import training
import functools


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args(argv)
    photos = [skimage_image(n) for n in ("astronaut", "chelsea", "coffee", "rocket")]
    batches = data.crop_batches(data.ImageSource(lambda i: photos[i], len(photos), 160), 128, 4, 0)
    styles = {n: np.asarray(skimage_image(n), np.float32) for n in ("immunohistochemistry", "coffee")}
    task = StyleBankTask(StyleBankTrainConfig(loss=StyleBankLoss(style_size=128)), weights.load_default(), styles)
    consts, state = task.constants(), training.init_state(task, jax.random.key(0))
    step = jax.jit(functools.partial(training.train_step, task), static_argnames="phase")
    losses = []
    for i in range(args.steps):
        state, metrics = step(state, batches[i], consts, phase=task.phase(i))
        losses.append(float(metrics["loss"]))
    print(json.dumps(losses))


if __name__ == "__main__":
    main()
