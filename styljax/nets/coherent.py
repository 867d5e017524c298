"""Coherent online video style transfer (Chen, Liao, Yuan, Yu, Hua — ICCV 2017) over StyleBank.

Net₁ adds two small trainable sub-networks to a *frozen* StyleBank encoder E, bank K and decoder D.
With F_t = K ⊗ E(I_t) the stylized features of frame t (any bank: a named style, a linear fusion):

    W_t    = FlowNet(I_{t−1}, I_t)                   backward "feature flow" at F's resolution (H/4)
    F'_t   = warp(F^o_{t−1}, W_t)                    bilinear (`map_coordinates(order=1)`)
    M_t    = σ(MaskNet(|F'_t − F_t|))                M ≈ 1: traceable, keep the warped feature
    F^o_t  = M_t ⊙ F'_t + (1 − M_t) ⊙ F_t            composite
    O_t    = D(F^o_t)

Frame 1 is plain StyleBank (F^o_1 = F_1). The *composite* F^o_{t−1}, not F_{t−1}, is what is warped
at the next step, so coherence propagates along the whole sequence while each step only ever
sees two frames and one feature map: one frame in, one frame out, constant memory.

The features are composited after the bank, at the decoder's input; the mask net therefore sees
style-specific feature differences (the paper's "transferability" question: a Net₁ trained with
one style, used with another; `bench/coherent_video.py` measures it).

- FlowNet: FlowNet-like (Dosovitskiy et al. 2015), scaled down: a 4-level stride-2 encoder on
  the frame pair (1/2 … 1/16), flow predicted at 1/16 and refined at 1/8 and 1/4 from skip
  features, upsampled features and the upsampled coarser flow. Leaky ReLU 0.1. Output (B, h, w, 2)
  in pixels of F (`styljax.video.flow` convention: u = Δx, v = Δy, backward).
  With `correlation = D > 0` (default 4) it is FlowNetC-like: siamese convs give each frame a 1/4
  feature map, a cost volume of cosine similarities over displacements d ∈ [−D, D]² joins the
  stacked-frames stream, and the 1/4 level predicts a residual on the cost volume's soft-argmax
  Σ_d softmax(τ c_d)·d (τ learnt) instead of on the upsampled coarser flow. Why: the plain FlowNetS stack (`correlation=0`) had learnt
  nothing in 460 steps here (EPE 0.67 feature px on the training clips; zero flow scores 0.68);
  the paper starts from a FlowNet pretrained on Flying Chairs, which we do not have.
- MaskNet: 3 convs, stride 1 (3×3 C→32, ReLU, 3×3 32→16, ReLU, 3×3 16→1), sigmoid, on
  |F′ − F| divided by the mean |F| of the frame (scale-free across banks).

Two guards make a still scene give a still output (identical frames give bit-identical
output frames) whatever the nets learnt:
- zero-flow candidate: per pixel (per feature pixel for the feature composition), the zero flow
  replaces the flow net's wherever it explains the frame pair at least as well (photometric
  error |I_t − warp(I_{t−1}, W)|), so identical frames get exactly W = 0, and bilinear warping
  with W = 0 is exactly the identity;
- the composite is written F + M ⊙ (F' − F), which is exactly F where F' = F (M·F' + (1 − M)·F
  is not, by rounding).

Composition (`VideoNetConfig.composition`):
- "feature": the paper's, above (features at the decoder's input).
- "output" (the default): the same recurrence on the decoded images, with an analytic mask:
      S_t   = D(F_t)                                       the per-frame output
      c_t   = exp(−(ē_t/σ)²) · [x + W lands inside]        ē_t: the photometric error, box-filtered
      O_t   = S_t + α c_t ⊙ (warp(O_{t−1}, W_t) − S_t)      α = `blend`
  Why (bench/coherent_video.py "factors", BENCHMARKS.md): even an oracle feature composition (exact flow,
  M = 1 everywhere) keeps about half the per-frame warp error, because the decoder does not
  commute with warping its input (it re-synthesises texture from resampled 1/4-resolution
  features); and the trained mask net had learnt a near-constant M. Composited on the output,
  a traceable pixel follows its motion trajectory as an exponential moving average of the
  per-frame outputs (weight α on the past), and untraceable ones are the per-frame output.

Params of Net₁ are {"flow": …, "mask": …}; the StyleBank params (and the bank) are separate
arguments, so training closes over them as constants and they cannot change.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from styljax.video import flow as flow_lib
from styljax.nets import stylebank as sb
from styljax.nets.layers import lecun_normal_chunked, upsample_nearest_2x

FLOW_STRIDE = 16  # the flow net's coarsest level: inputs are padded to a multiple of this
COMPOSITIONS = ("output", "feature")


@dataclasses.dataclass(frozen=True)
class VideoNetConfig:
    """Architecture of Net₁'s trainable parts (hashable: a static jit argument).

    Attributes:
      flow_channels: widths of the flow encoder's four stride-2 levels (1/2, 1/4, 1/8, 1/16).
      correlation: max displacement D (feature px) of the 1/4-level cost volume; 0: FlowNetS.
      mask_channels: widths of the mask net's first two convs (the third outputs 1 channel).
      mask_bias: initial bias of the mask logit. σ(0.5) ≈ 0.62: on training clips with the
        warmed-up flow net, a uniform M of 0.5-0.75 gave the lowest coherence loss (M = 0: 0.0069,
        0.5: 0.0058, 0.75: 0.0057, 1: 0.0061 on one batch).
      dtype: computation dtype of both nets (params stay float32; flow and mask are float32).
      composition: "output" (composite decoded frames, analytic mask; the default) or "feature"
        (the paper's: composite the stylized features with the mask net's M). Training always
        uses "feature" (the paper's losses train the mask net).
      blend: α, the weight of the warped previous output on a fully traceable pixel ("output").
      trace_sigma: σ of the traceability exp(−(ē/σ)²), ē the mean |I_t − warp(I_{t−1})| over
        channels and a `trace_window`² box, in [0, 1] intensity units ("output").
      trace_window: side of that box (odd).
        The three were chosen on clips of training images, not on the held-out ones (the sweep
        is in BENCHMARKS.md): a higher α or σ trades drift from the per-frame output for stability.
    """

    flow_channels: tuple[int, ...] = (24, 48, 64, 96)
    correlation: int = 4
    mask_channels: tuple[int, int] = (32, 16)
    mask_bias: float = 0.5
    dtype: Any = jnp.float32
    composition: str = "output"
    blend: float = 0.6
    trace_sigma: float = 0.1
    trace_window: int = 5

    def __post_init__(self):
        object.__setattr__(self, "flow_channels", tuple(int(c) for c in self.flow_channels))
        object.__setattr__(self, "mask_channels", tuple(int(c) for c in self.mask_channels))
        object.__setattr__(self, "dtype", jnp.dtype(self.dtype).type)
        if len(self.flow_channels) != 4:
            raise ValueError(f"flow_channels needs 4 entries (1/2 … 1/16), got {self.flow_channels}")
        if len(self.mask_channels) != 2:
            raise ValueError(f"mask_channels needs 2 entries, got {self.mask_channels}")
        if self.composition not in COMPOSITIONS:
            raise ValueError(f"composition must be one of {COMPOSITIONS}, got {self.composition!r}")
        if not 0.0 <= self.blend <= 1.0 or not self.trace_sigma > 0:
            raise ValueError(f"need 0 <= blend <= 1 and trace_sigma > 0, got {self.blend}, {self.trace_sigma}")
        if self.trace_window < 1 or self.trace_window % 2 == 0:
            raise ValueError(f"trace_window must be odd and >= 1, got {self.trace_window}")


def _conv(features: int, kernel: int, stride: int = 1, dtype: Any = jnp.float32, name: str | None = None) -> nn.Conv:
    return nn.Conv(features, (kernel, kernel), (stride, stride), "SAME", dtype=dtype,
                   kernel_init=lecun_normal_chunked, name=name)


def _predict(dtype: Any, name: str) -> nn.Conv:
    """A flow-prediction conv, zero-initialised: a fresh net predicts exactly its base flow (the
    upsampled coarser flow or the cost volume's estimate), not lecun-normal noise of ~1 px."""
    return nn.Conv(2, (3, 3), padding="SAME", dtype=dtype, kernel_init=nn.initializers.zeros, name=name)


def _lrelu(x: jax.Array) -> jax.Array:
    return nn.leaky_relu(x, 0.1)


class FlowNet(nn.Module):
    """(I_{t−1}, I_t) (B, H, W, 3) each, H, W multiples of 16 → backward flow (B, H/4, W/4, 2)
    in pixels of the 1/4-resolution map."""

    cfg: VideoNetConfig

    @nn.compact
    def __call__(self, prev: jax.Array, cur: jax.Array) -> jax.Array:
        c1, c2, c3, c4 = self.cfg.flow_channels
        dt = self.cfg.dtype
        x = (jnp.concatenate([prev, cur], axis=-1) - 0.5).astype(dt)
        x1 = _lrelu(_conv(c1, 7, 2, dt, "conv1")(x))  # 1/2
        x2 = _lrelu(_conv(c2, 5, 2, dt, "conv2")(x1))  # 1/4
        hint = []
        if self.cfg.correlation > 0:
            siamese = [_conv(c1, 7, 2, dt, "feat1"), _conv(c2, 5, 2, dt, "feat2")]
            feats = []
            for img in (prev, cur):
                f = (img - 0.5).astype(dt)
                for conv in siamese:
                    f = _lrelu(conv(f))
                feats.append(f)
            cost = cost_volume(feats[1], feats[0], self.cfg.correlation)  # (B, h, w, (2D+1)²)
            tau = self.param("temperature", nn.initializers.constant(10.0), ())
            hint = [soft_argmax(cost, tau, self.cfg.correlation).astype(dt)]
            x2 = jnp.concatenate([x2, cost.astype(dt)] + hint, axis=-1)
        x3 = _lrelu(_conv(c3, 3, 2, dt, "conv3")(x2))  # 1/8
        x3 = _lrelu(_conv(c3, 3, 1, dt, "conv3_1")(x3))
        x4 = _lrelu(_conv(c4, 3, 2, dt, "conv4")(x3))  # 1/16
        x4 = _lrelu(_conv(c4, 3, 1, dt, "conv4_1")(x4))
        # flows are predicted in pixels of their own level; ×2 when going one level finer
        flow4 = _predict(dt, "predict4")(x4)
        up3 = _lrelu(_conv(c3 // 2, 3, 1, dt, "up3")(upsample_nearest_2x(x4)))
        y3 = jnp.concatenate([x3, up3, 2.0 * upsample_nearest_2x(flow4)], axis=-1)
        flow3 = _predict(dt, "predict3")(y3) + 2.0 * upsample_nearest_2x(flow4)
        up2 = _lrelu(_conv(c2 // 2, 3, 1, dt, "up2")(upsample_nearest_2x(y3)))
        y2 = jnp.concatenate([x2, up2, 2.0 * upsample_nearest_2x(flow3)] + hint, axis=-1)
        base = hint[0] if hint else 2.0 * upsample_nearest_2x(flow3)  # the cost volume's estimate, if any
        flow2 = _predict(dt, "predict2")(y2) + base
        return flow2.astype(jnp.float32)


def cost_volume(cur: jax.Array, prev: jax.Array, max_disp: int) -> jax.Array:
    """c_d(x) = cos(f_cur(x), f_prev(x + d)) for d = (dx, dy) ∈ [−D, D]², dy-major order:
    (B, h, w, C) × 2 → (B, h, w, (2D+1)²). Outside the frame f_prev is 0 (similarity 0)."""
    eps = 1e-6
    cur = cur / (jnp.linalg.norm(cur, axis=-1, keepdims=True) + eps)
    prev = prev / (jnp.linalg.norm(prev, axis=-1, keepdims=True) + eps)
    d = max_disp
    h, w = cur.shape[1:3]
    padded = jnp.pad(prev, ((0, 0), (d, d), (d, d), (0, 0)))
    out = [jnp.einsum("bhwc,bhwc->bhw", cur, padded[:, d + dy : d + dy + h, d + dx : d + dx + w])
           for dy in range(-d, d + 1) for dx in range(-d, d + 1)]
    return jnp.stack(out, axis=-1)


def soft_argmax(cost: jax.Array, temperature: jax.Array, max_disp: int) -> jax.Array:
    """Σ_d softmax(τ c)_d · d over the displacements that land inside the frame: the cost
    volume's expected displacement (B, h, w, 2) as (u, v). (Letting out-of-frame candidates in
    biases the estimate towards the centre near the borders, 44% of a 32² map for D = 4.)"""
    h, w = cost.shape[1:3]
    r = np.arange(-max_disp, max_disp + 1)
    dy, dx = (a.ravel() for a in np.meshgrid(r, r, indexing="ij"))  # cost_volume's order
    ys, xs = np.arange(h)[:, None, None], np.arange(w)[None, :, None]
    inside = (ys + dy >= 0) & (ys + dy < h) & (xs + dx >= 0) & (xs + dx < w)  # (h, w, K)
    logits = jnp.where(inside, temperature * cost.astype(jnp.float32), -jnp.inf)
    p = jax.nn.softmax(logits, axis=-1)
    return p @ jnp.asarray(np.stack([dx, dy], axis=-1), jnp.float32)


class MaskNet(nn.Module):
    """|F' − F| (B, h, w, C) → M (B, h, w, 1) in [0, 1]: 3 convs, stride 1."""

    cfg: VideoNetConfig

    @nn.compact
    def __call__(self, diff: jax.Array) -> jax.Array:
        a, b = self.cfg.mask_channels
        dt = self.cfg.dtype
        x = nn.relu(_conv(a, 3, 1, dt, "conv1")(diff.astype(dt)))
        x = nn.relu(_conv(b, 3, 1, dt, "conv2")(x))
        # zero kernel: a fresh mask is the constant σ(mask_bias), not a random map
        logit = nn.Conv(1, (3, 3), padding="SAME", dtype=dt, kernel_init=nn.initializers.zeros,
                        bias_init=nn.initializers.constant(self.cfg.mask_bias), name="conv3")(x)
        return jax.nn.sigmoid(logit.astype(jnp.float32))


def init(key: jax.Array, cfg: VideoNetConfig, features: int) -> dict:
    """Fresh Net₁ params {"flow", "mask"} for StyleBank features with `features` channels."""
    k_flow, k_mask = jax.random.split(key)
    img = jax.ShapeDtypeStruct((1, FLOW_STRIDE, FLOW_STRIDE, 3), jnp.float32)
    feat = jax.ShapeDtypeStruct((1, 4, 4, features), jnp.float32)
    return {
        "flow": FlowNet(cfg).lazy_init(k_flow, img, img)["params"],
        "mask": MaskNet(cfg).lazy_init(k_mask, feat)["params"],
    }


# ------------------------------------------------------------------------------------ forward parts


def _pad_edge(images: jax.Array, multiple: int) -> jax.Array:
    h, w = images.shape[1:3]
    return jnp.pad(images, ((0, 0), (0, (-h) % multiple), (0, (-w) % multiple), (0, 0)), mode="edge")


def predict_flow(params: dict, prev: jax.Array, cur: jax.Array, cfg: VideoNetConfig) -> jax.Array:
    """Backward feature flow (B, ⌈H/4⌉, ⌈W/4⌉, 2) of frame `cur` to `prev`, (B, H, W, 3) each.

    Frames are edge-padded to a multiple of 16 for the pyramid, the flow is cropped back to the
    feature map's size (F's padding is at the bottom/right too, see `stylebank.encode`)."""
    h, w = sb.feature_hw(cur.shape[1:3])
    out = FlowNet(cfg).apply({"params": params["flow"]}, _pad_edge(prev, FLOW_STRIDE), _pad_edge(cur, FLOW_STRIDE))
    return out[:, :h, :w]


def predict_mask(params: dict, warped: jax.Array, current: jax.Array, cfg: VideoNetConfig) -> jax.Array:
    """M = MaskNet(|F' − F| / mean|F|): (B, h, w, 1) in [0, 1].

    The difference is divided by the current feature's mean magnitude (per image), so the mask
    net sees the same scale whatever the bank: the banks' outputs differ in scale by style, and
    unnormalised differences drove the logits into saturation (M → 0, σ' ≈ 1e-12) within 40
    steps of training."""
    cur = current.astype(jnp.float32)
    scale = jnp.mean(jnp.abs(cur), axis=(1, 2, 3), keepdims=True) + 1e-6
    diff = jnp.abs(warped.astype(jnp.float32) - cur) / scale
    return MaskNet(cfg).apply({"params": params["mask"]}, diff)


def stylized_features(sb_params: dict, bank: dict, images: jax.Array, sb_cfg: sb.StyleBankConfig) -> jax.Array:
    """F = K ⊗ E(I) for one bank's params (a named style or a `fuse_linear` result)."""
    return sb.apply_bank(bank, sb.encode(sb_params, images, sb_cfg), sb_cfg)


def image_flow(feature_flow: jax.Array, hw: tuple[int, int]) -> jax.Array:
    """A feature flow (B, h, w, 2) at image resolution: resized ×4 (vectors ×4), cropped to hw."""
    h, w = feature_flow.shape[1:3]
    return flow_lib.resize_flow(feature_flow, (4 * h, 4 * w))[:, : hw[0], : hw[1]]


def photometric_error(prev: jax.Array, cur: jax.Array, flow: jax.Array) -> jax.Array:
    """|I_t − warp(I_{t−1}, W)| averaged over channels: (B, H, W, 3) × 2, (B, H, W, 2) → (B, H, W, 1)."""
    return jnp.mean(jnp.abs(cur - flow_lib.warp(prev, flow)), axis=-1, keepdims=True)


def box_mean(x: jax.Array, window: int) -> jax.Array:
    """Mean of (B, H, W, C) over a window² box centred on each pixel (the part inside the image)."""
    if window == 1:
        return x
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, window, window, 1), (1, 1, 1, 1), "SAME")
    r = window // 2
    # pixels of the box inside the image, per axis (numpy at trace time: XLA would constant-fold
    # a reduce_window over ones, slowly)
    inside = [np.minimum(np.arange(n) + r, n - 1) - np.maximum(np.arange(n) - r, 0) + 1 for n in x.shape[1:3]]
    count = np.outer(*inside).astype(np.float32)[None, :, :, None]
    return total / count


def block_mean(x: jax.Array, k: int = sb.DOWNSAMPLE) -> jax.Array:
    """(B, H, W, C) → (B, ⌈H/k⌉, ⌈W/k⌉, C): means of k×k blocks (edge-padded at the bottom/right,
    as `stylebank.encode` pads), i.e. an image map at F's resolution."""
    b, h, w, c = x.shape
    x = _pad_edge(x, k)
    return x.reshape(b, x.shape[1] // k, k, x.shape[2] // k, k, c).mean(axis=(2, 4))


def select_zero_flow(prev: jax.Array, cur: jax.Array, flow: jax.Array, window: int) -> tuple[jax.Array, jax.Array]:
    """Image flow (B, H, W, 2) with the zero-flow candidate taken wherever it explains the pair at
    least as well: box-filtered photometric errors ē(0) ≤ ē(W). Returns (flow, ē of the chosen one)
    (B, H, W, 1). Identical frames give exactly W = 0 and ē = 0."""
    e_net = box_mean(photometric_error(prev, cur, flow), window)
    e_zero = box_mean(jnp.mean(jnp.abs(cur - prev), axis=-1, keepdims=True), window)
    zero = e_zero <= e_net
    return jnp.where(zero, 0.0, flow), jnp.where(zero, e_zero, e_net)


class StreamState(struct.PyTreeNode):
    """What an online stream carries from frame to frame: the previous input frame, the previous
    *composite* feature ("feature" composition; "output": the previous per-frame feature) and the
    previous output; `started` is False before the first frame."""

    prev_frame: jax.Array  # (B, H, W, 3)
    prev_feature: jax.Array  # (B, h, w, C)
    prev_output: jax.Array  # (B, H, W, 3)
    started: jax.Array  # () bool


def init_stream(frame_shape: tuple[int, ...], features: int, dtype: Any = jnp.float32) -> StreamState:
    """Empty state for frames of shape (B, H, W, 3)."""
    b, h, w, _ = frame_shape
    fh, fw = sb.feature_hw((h, w))
    zeros = jnp.zeros(frame_shape, jnp.float32)
    return StreamState(zeros, jnp.zeros((b, fh, fw, features), dtype), zeros, jnp.bool_(False))


def composite_step(
    params: dict, state: StreamState, frame: jax.Array, current: jax.Array, cfg: VideoNetConfig,
    flow: jax.Array | None = None, traceable: jax.Array | None = None, select_zero: bool = True,
) -> tuple[jax.Array, dict]:
    """The paper's feature composition: F^o_t from the carried state and F_t = `current`.

    `select_zero`: take the zero flow per feature pixel where it explains the frame pair at least
    as well as the flow net's (block-mean photometric error); training turns it off so the
    paper's losses see (and train) the flow net's own flow everywhere.
    `flow` (B, H, W, 2), an image-resolution flow, replaces the flow net's (evaluation with exact
    flow); `traceable` (B, H, W) replaces the mask net's M by the traceable fraction of each 4×4
    block (an oracle mask). Returns (F^o_t, aux) with aux = {"flow": the W_t used, "net_flow": the
    flow net's own W_t, "mask": M_t, "warped": F'_t}. Before the first frame (`state.started`
    False) the mask is forced to 0, so F^o_1 = F_1 (plain StyleBank).
    """
    fhw = current.shape[1:3]
    if flow is None:
        w = net_flow = predict_flow(params, state.prev_frame, frame, cfg)
        if select_zero:
            e_net = block_mean(photometric_error(state.prev_frame, frame, image_flow(net_flow, frame.shape[1:3])))
            e_zero = block_mean(jnp.mean(jnp.abs(frame - state.prev_frame), axis=-1, keepdims=True))
            w = jnp.where(e_zero <= e_net, 0.0, net_flow)
    else:
        w = net_flow = flow_lib.resize_flow(flow, fhw)
    warped = flow_lib.warp(state.prev_feature, w).astype(current.dtype)
    if traceable is None:
        m = predict_mask(params, warped, current, cfg)
    else:
        m = block_mean(traceable.astype(jnp.float32)[..., None])
    m = m * state.started.astype(jnp.float32)
    cur = current.astype(jnp.float32)
    out = (cur + m * (warped.astype(jnp.float32) - cur)).astype(current.dtype)
    return out, {"flow": w, "net_flow": net_flow, "mask": m, "warped": warped}


def output_composite_step(
    params: dict, state: StreamState, frame: jax.Array, styled: jax.Array, cfg: VideoNetConfig,
    flow: jax.Array | None = None, traceable: jax.Array | None = None,
) -> tuple[jax.Array, dict]:
    """The output composition: O_t = S_t + α c_t ⊙ (warp(O_{t−1}, W_t) − S_t), S_t = `styled`.

    `flow` (B, H, W, 2) replaces the flow net's (exact flow); `traceable` (B, H, W) replaces the
    photometric traceability c_t (an oracle mask). Returns (O_t, aux) with aux = {"flow": the
    image flow W_t used, "mask": α c_t (B, H, W, 1)}; before the first frame the mask is 0.
    """
    hw = frame.shape[1:3]
    if flow is None:
        net_flow = image_flow(predict_flow(params, state.prev_frame, frame, cfg), hw)
        w, err = select_zero_flow(state.prev_frame, frame, net_flow, cfg.trace_window)
    else:
        w = flow
        err = box_mean(photometric_error(state.prev_frame, frame, w), cfg.trace_window)
    if traceable is None:
        c = jnp.exp(-jnp.square(err / cfg.trace_sigma)) * flow_lib.in_bounds(w)[..., None]
    else:
        c = traceable.astype(jnp.float32)[..., None]
    m = cfg.blend * c * state.started.astype(jnp.float32)
    warped = flow_lib.warp(state.prev_output, w)
    return styled + m * (warped - styled), {"flow": w, "mask": m}


@functools.partial(jax.jit, static_argnames=("sb_cfg", "cfg", "clip"))
def stream_step(
    params: dict,
    sb_params: dict,
    bank: dict,
    state: StreamState,
    frame: jax.Array,
    sb_cfg: sb.StyleBankConfig,
    cfg: VideoNetConfig,
    clip: bool = True,
    flow: jax.Array | None = None,
    traceable: jax.Array | None = None,
) -> tuple[StreamState, jax.Array, dict]:
    """One online step: (state, frame (B, H, W, 3)) → (new state, O_t (B, H, W, 3), aux).

    The same compiled function serves the first frame (state not started: plain StyleBank) and
    every later one, so a stream compiles once per frame size. `flow`/`traceable` (optional,
    image resolution) replace the flow net's flow and the mask: evaluation with exact flow.
    """
    current = stylized_features(sb_params, bank, frame, sb_cfg)
    hw = frame.shape[1:3]
    if cfg.composition == "feature":
        feat, aux = composite_step(params, state, frame, current, cfg, flow, traceable)
        out = sb.decode(sb_params, feat, sb_cfg, hw)
        out = jnp.clip(out, 0.0, 1.0) if clip else out
    else:
        feat = current
        styled = sb.decode(sb_params, current, sb_cfg, hw)
        styled = jnp.clip(styled, 0.0, 1.0) if clip else styled
        out, aux = output_composite_step(params, state, frame, styled, cfg, flow, traceable)
    return StreamState(frame.astype(jnp.float32), feat, out, jnp.bool_(True)), out, aux


@functools.partial(jax.jit, static_argnames=("sb_cfg", "cfg", "clip"))
def stylize_clip(
    params: dict,
    sb_params: dict,
    bank: dict,
    frames: jax.Array,
    sb_cfg: sb.StyleBankConfig,
    cfg: VideoNetConfig,
    clip: bool = True,
    flows: jax.Array | None = None,
    traceable: jax.Array | None = None,
) -> tuple[jax.Array, dict]:
    """A whole clip (T, B, H, W, 3) through Net₁ with `lax.scan` (the online recurrence):
    returns outputs (T, B, H, W, 3) and stacked aux (flows, masks). Equals `stream_step` frame by
    frame. `flows` (T, B, H, W, 2) / `traceable` (T, B, H, W): exact flow / oracle mask."""
    state = init_stream(frames.shape[1:], sb_cfg.features, sb_cfg.dtype)

    def body(state, xs):
        frame, w, tr = xs
        state, out, aux = stream_step(params, sb_params, bank, state, frame, sb_cfg, cfg, clip, w, tr)
        return state, (out, {"flow": aux["flow"], "mask": aux["mask"]})

    _, (outs, aux) = jax.lax.scan(body, state, (frames, flows, traceable))
    return outs, aux


@functools.partial(jax.jit, static_argnames=("sb_cfg", "clip"))
def stylize_per_frame(sb_params: dict, bank: dict, frames: jax.Array, sb_cfg: sb.StyleBankConfig, clip: bool = True):
    """Baseline: every frame of (T, B, H, W, 3) through plain StyleBank, independently."""
    return jax.lax.map(lambda f: sb.stylize_bank(sb_params, f, bank, sb_cfg, clip), frames)


__all__ = [
    "FLOW_STRIDE",
    "FlowNet",
    "MaskNet",
    "StreamState",
    "VideoNetConfig",
    "COMPOSITIONS",
    "block_mean",
    "box_mean",
    "composite_step",
    "image_flow",
    "output_composite_step",
    "photometric_error",
    "select_zero_flow",
    "cost_volume",
    "init",
    "init_stream",
    "predict_flow",
    "predict_mask",
    "soft_argmax",
    "stream_step",
    "stylized_features",
    "stylize_clip",
    "stylize_per_frame",
]
