"""Temporal coherence for any per-frame stylizer, in output space (Ruder et al. 2016's traceable
pixels; the coherent-video paper's output composition): each frame's fresh stylization is
replaced, where the previous frame's pixel is traceable and the input there is unchanged, by the
previous output warped along the flow. Method-agnostic (no features of a particular net), so the
arbitrary-style transformer uses it (`styljax video --method arbitrary`).

A still scene (zero flow, identical inputs) repeats the first output exactly."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from styljax.video import flow as flow_lib

# max |warp(I_{t−1}) − I_t| (0..1, any channel) for a pixel to count as the same scene point; the
# flow net's warps resample, so an exact match is too strict
DEFAULT_TOLERANCE = 0.1
# β of the forward-backward check, in image px²: Ruder et al.'s 0.5 is for flow at full resolution;
# the flow net predicts at a quarter of it, so a fraction of its pixel is 4 image px and the slack
# scales by 4² (at 0.5 the check rejected most correct matches and little output was reused).
DEFAULT_TRACE_SLACK = 8.0


@jax.jit
def same_input(prev_in: jax.Array, cur_in: jax.Array, backward: jax.Array,
               tolerance: float = DEFAULT_TOLERANCE) -> jax.Array:
    """(B, H, W) in {0, 1}: where the previous frame (B, H, W, 3) warped by the backward flow t→t−1
    (B, H, W, 2, pixels) matches frame t within `tolerance` in every channel (not occluded or
    changed; a wrong flow fails it too)."""
    return (jnp.max(jnp.abs(flow_lib.warp(prev_in, backward) - cur_in), axis=-1) <= tolerance).astype(jnp.float32)


@jax.jit
def reuse_mask(prev_in: jax.Array, cur_in: jax.Array, backward: jax.Array, forward: jax.Array,
               tolerance: float = DEFAULT_TOLERANCE, trace_slack: float = DEFAULT_TRACE_SLACK) -> jax.Array:
    """(B, H, W) in {0, 1}: `same_input` where frame t's pixel traces back to frame t−1 (the
    forward-backward check of `styljax.video.flow.consistency_mask` with β = `trace_slack`, in
    bounds); `forward` is the flow t−1→t."""
    traceable = flow_lib.consistency_mask(backward, forward, beta=trace_slack)
    return traceable * same_input(prev_in, cur_in, backward, tolerance)


@jax.jit
def compose(prev_out: jax.Array, fresh: jax.Array, backward: jax.Array, mask: jax.Array) -> jax.Array:
    """mask · warp(O_{t−1}, backward) + (1 − mask) · fresh, mask (B, H, W) (`reuse_mask`): frame
    t's coherent output, from outputs (B, H, W, 3)."""
    return jnp.where(mask[..., None] > 0.5, flow_lib.warp(prev_out, backward), fresh)


__all__ = ["DEFAULT_TOLERANCE", "DEFAULT_TRACE_SLACK", "compose", "reuse_mask", "same_input"]
