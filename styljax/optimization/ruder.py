"""Ruder, Dosovitskiy & Brox (GCPR 2016), "Artistic style transfer for videos": the optimisation
baseline of the coherent online video paper.

Frame t is a Gatys optimisation (`styljax.optimization.gatys`'s VGG losses, minimised by the shared loop
`styljax.optimization.optimize`) with

- initialisation: the previous output warped into frame t, ω_t = warp(x_{t−1}, W_t) (their best
  "prevWarped" init); frame 1 starts as `GatysConfig.init` says;
- a short-term temporal loss on traceable pixels:
      L_temporal(x) = λ_t · (1/D) Σ_k c_k (x_k − ω_k)²,   D = pixels × channels,
  c ∈ {0, 1}: 0 where the forward-backward check fails (dis-occlusions) or at motion boundaries
  (`traceable_mask`).

Not implemented (named in the paper as optional): the long-term temporal loss over frames
t − 2, t − 4, … and the multi-pass (forward/backward alternating) scheme. Frames are processed
online, one at a time, so memory does not grow with the clip.

The loss is the Gatys objective plus one term: `make_loss` wraps `gatys.make_loss` and carries ω
and c in its targets; `stylize_frames` hands it to one `optimize.Loop` as a pure (x, aux) loss
with the frame's initial image, so every frame (same shapes) reuses one compiled loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from styljax.video import flow as flow_lib
from styljax.optimization import gatys, optimize
from styljax.nets.vgg import VggWeights

# Ruder et al.'s temporal weight is 1e3 on pixels in [0, 255], next to neural-style's content and
# style weights (5, 100: also `GatysConfig`'s) on caffe VGG features of 0-255 inputs (the default
# weights' convention too). Our pixels are in [0, 1] and the term is squared: ×255² keeps the balance.
RUDER_TEMPORAL_WEIGHT = 1e3 * 255.0**2


@dataclasses.dataclass(frozen=True)
class RuderConfig:
    """A Ruder et al. run.

    Attributes:
      gatys: the per-frame objective and optimiser; only its first `sizes` entry is used (one
        scale: the video's size).
      first_steps: optimiser steps on frame 1 (no temporal term, init `gatys.init`).
      steps: optimiser steps on every later frame (init: the previous output, warped).
      temporal_weight: λ_t of the temporal loss (for [0, 1] pixels).
    """

    gatys: gatys.GatysConfig = gatys.GatysConfig(sizes=(256,), steps=(100,))
    first_steps: int = 100
    steps: int = 50
    temporal_weight: float = RUDER_TEMPORAL_WEIGHT

    def __post_init__(self):
        if self.first_steps < 1 or self.steps < 1:
            raise ValueError(f"steps must be >= 1, got first_steps={self.first_steps}, steps={self.steps}")
        if self.temporal_weight < 0:
            raise ValueError(f"temporal_weight must be >= 0, got {self.temporal_weight}")


def traceable_mask(backward: jax.Array, forward: jax.Array) -> jax.Array:
    """Ruder et al.'s c: (B, H, W) in {0, 1} from frame t's flow to t−1 (`backward`) and frame t−1's
    flow to t (`forward`), (B, H, W, 2) each: 0 where the forward-backward check fails
    (`flow.consistency_mask`: |w + ŵ|² > 0.01(|w|² + |ŵ|²) + 0.5, or outside the frame) and at
    motion boundaries |∇u|² + |∇v|² > 0.01|w|² + 0.002, 1 elsewhere."""
    consistent = flow_lib.consistency_mask(backward, forward)
    gy = jnp.gradient(backward, axis=1)
    gx = jnp.gradient(backward, axis=2)
    grad2 = jnp.sum(jnp.square(gx) + jnp.square(gy), axis=-1)
    boundary = grad2 > 0.01 * jnp.sum(jnp.square(backward), axis=-1) + 0.002
    return consistent * (~boundary).astype(jnp.float32)


def make_loss(weights: VggWeights, cfg: RuderConfig):
    """(targets_fn, loss_fn) in `gatys.make_loss`'s form, with the temporal term.

    targets_fn(params, content, styles, blend, warped, mask) -> targets (the Gatys targets plus
    ω (H, W, 3) and c (H, W)); loss_fn(params, targets, x) -> (total, {"content", "style", "tv",
    "temporal"}).
    """
    g_targets, g_loss = gatys.make_loss(weights, cfg.gatys)

    def targets_fn(params, content, styles, blend, warped, mask):
        return {"gatys": g_targets(params, content, styles, blend), "warped": warped, "mask": mask}

    def loss_fn(params, targets, x):
        total, parts = g_loss(params, targets["gatys"], x)
        c = targets["mask"][..., None]
        temporal = cfg.temporal_weight * jnp.mean(c * jnp.square(x - targets["warped"]))
        return total + temporal, {**parts, "temporal": temporal}

    return targets_fn, loss_fn


def stylize_frames(
    weights: VggWeights,
    frames: Iterable[np.ndarray],
    styles: list[np.ndarray],
    flows: Callable[[np.ndarray, np.ndarray], tuple[jax.Array, jax.Array]],
    cfg: RuderConfig = RuderConfig(),
) -> Iterator[np.ndarray]:
    """Stylize a stream of frames (H, W, 3) in [0, 1] online; yields one output frame per input.

    `flows(prev, cur)` returns frame t's backward flow to t−1 (H, W, 2) and its traceable mask c
    (H, W) (e.g. `traceable_mask` of a flow net's backward and forward flows, or exact ones).
    Style images are taken at their given size. Colour preservation is not supported here.
    """
    if cfg.gatys.color != "transfer":
        raise ValueError("ruder: colour preservation is not supported")
    gcfg = cfg.gatys
    blend = gatys.style_blend(gcfg, len(styles))
    styles = [jnp.asarray(s, jnp.float32) for s in styles]
    targets_fn, loss_fn = make_loss(weights, cfg)
    targets_fn = jax.jit(targets_fn)
    loop = optimize.Loop(lambda x, aux: loss_fn(aux["params"], aux["targets"], x), gcfg.optim())
    params = weights.params
    prev_in = prev_out = None
    for frame in frames:
        content = jnp.asarray(frame, jnp.float32)
        if prev_out is None:
            mask = jnp.zeros(content.shape[:2], jnp.float32)
            warped = content
            x = gatys.initial_image(content, styles[0], gcfg)
            n_steps = cfg.first_steps
        else:
            back, mask = flows(prev_in, np.asarray(frame))
            warped = flow_lib.warp(prev_out[None], jnp.asarray(back)[None])[0]
            mask = jnp.asarray(mask, jnp.float32)
            x, n_steps = warped, cfg.steps
        aux = {"params": params, "targets": targets_fn(params, content, styles, blend, warped, mask)}
        for last in loop.run(x, aux, n_steps, every=n_steps):  # one chunk: no host sync per step
            x = last.image
        prev_in, prev_out = np.asarray(frame), jnp.clip(x, 0.0, 1.0)
        yield np.asarray(prev_out)


__all__ = ["RUDER_TEMPORAL_WEIGHT", "RuderConfig", "make_loss", "stylize_frames", "traceable_mask"]
