"""Training Net₁ (flow + mask sub-networks) on a frozen StyleBank, as a `styljax.training.Task`.

Batches are synthetic clips (`styljax.video.synthetic.clip_batches`): frames I_0 … I_{T−1} with exact
backward flows W^gt_t and traceability masks M^g_t. Per-frame StyleBank outputs S_t = D(K ⊗ E(I_t))
are the targets (frozen nets, no gradient). Net₁ runs the online recurrence from F^o_0 = F_0 and,
for every t ≥ 1 (losses as reconstructed in METHODS.md A2, means over pixels and channels):

    coherence  ‖M^g_t ⊙ (O_t − warp(S_{t−1}, W^gt_t))‖²     traceable pixels follow the previous frame
    occlusion  ‖(1 − M^g_t) ⊙ (O_t − S_t)‖²                 the rest look like the per-frame output
    flow       ‖W_t − W^gt_t↓‖²                              flow supervision at F's resolution

Only Net₁'s params are in the `TrainState` and the optimizer; the StyleBank encoder, decoder and
bank are constants of the step (`constants()`), so they have no optimizer state and cannot change.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from styljax.video import flow as flow_lib
from styljax.imaging import geometry
from styljax.imaging import sheets
from styljax.nets import stylebank as sb
from styljax.nets import coherent as vn
from styljax.training import Group, Trainable, TrainState, schedule


@dataclasses.dataclass(frozen=True)
class VideoLoss:
    coherence_weight: float = 1.0
    occlusion_weight: float = 1.0
    # flows are in feature pixels (1/4 res): an EPE of 1 there is 4 image px; an image MSE of
    # 1e-3 is a clearly visible flicker. 1e-3 makes a 1-px feature-flow error cost about that.
    flow_weight: float = 1e-3


@dataclasses.dataclass(frozen=True)
class VideoTrainConfig:
    net: vn.VideoNetConfig = vn.VideoNetConfig()
    loss: VideoLoss = VideoLoss()
    learning_rate: float = 1e-3
    decay_every: int = 1000
    decay_rate: float = 0.7
    flow_warmup: int = 0  # steps of flow-only training before the full loss
    # The mask net's learning rate relative to the flow net's. Adam moves every weight of its wide
    # first conv (3·3·128 inputs) by ~lr per step, so at the flow net's rate the logits swung into
    # saturation (M ≈ 0.01, no gradient) within 40 steps, and at 1/20 of it within 100.
    mask_lr_scale: float = 0.01


class VideoTask:
    """Trains Net₁ for a frozen StyleBank model `sb_params` (with `sb_cfg`) and one bank."""

    name = "video"

    def __init__(self, cfg: VideoTrainConfig, sb_params: dict, sb_cfg: sb.StyleBankConfig, bank: dict,
                 style: str, *, init_params: dict | None = None):
        self.cfg = cfg
        self.sb_cfg = sb_cfg
        self.style = style
        self.frozen = {"sb": {k: sb_params[k] for k in ("encoder", "decoder")}, "bank": bank}
        self.start_params = init_params
        self.learning_rate = schedule(cfg.learning_rate, cfg.decay_every, cfg.decay_rate)
        # one Adam per sub-network, each with its own rate
        self.trainable = Trainable((Group("flow", ("flow/*",)), Group("mask", ("mask/*",), lr_scale=cfg.mask_lr_scale)))
        self.new_styles = ()

    def init_params(self, key: jax.Array) -> dict:
        return (jax.tree.map(jnp.asarray, self.start_params) if self.start_params is not None
                else vn.init(key, self.cfg.net, self.sb_cfg.features))

    def init_extra(self) -> None:
        return None

    def constants(self) -> dict:
        return self.frozen

    def phase(self, step: int) -> int:
        """0: flow warm-up (flow term only), 1: the full loss."""
        return int(step >= self.cfg.flow_warmup)

    # ----------------------------------------------------------------------------------- losses
    def per_frame(self, consts: dict, frames: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Frozen per-frame features F_t and outputs S_t for (T, B, H, W, 3) frames."""
        t, b, h, w, _ = frames.shape
        flat = frames.reshape((t * b, h, w, 3))
        f = vn.stylized_features(consts["sb"], consts["bank"], flat, self.sb_cfg)
        s = sb.decode(consts["sb"], f, self.sb_cfg, (h, w))
        f, s = jax.lax.stop_gradient(f), jax.lax.stop_gradient(s)
        return f.reshape((t, b) + f.shape[1:]), s.reshape((t, b, h, w, 3))

    def flow_loss(self, params: dict, batch: dict) -> tuple[jax.Array, dict]:
        """Warm-up objective: the flow term alone, over every consecutive pair of the clip."""
        frames = jnp.moveaxis(jnp.asarray(batch["frames"], jnp.float32), 1, 0)  # (T, B, H, W, 3)
        gt_flow = jnp.moveaxis(jnp.asarray(batch["flow"], jnp.float32), 1, 0)
        prev, cur = (x.reshape((-1,) + x.shape[2:]) for x in (frames[:-1], frames[1:]))
        w = vn.predict_flow(params, prev, cur, self.cfg.net)
        terms = flow_terms(w, gt_flow[1:].reshape((-1,) + gt_flow.shape[2:]))
        return terms["flow"], terms

    def clip_loss(self, params: dict, batch: dict, consts: dict) -> tuple[jax.Array, dict]:
        lw = self.cfg.loss
        frames = jnp.moveaxis(jnp.asarray(batch["frames"], jnp.float32), 1, 0)  # (T, B, H, W, 3)
        gt_flow = jnp.moveaxis(jnp.asarray(batch["flow"], jnp.float32), 1, 0)
        traceable = jnp.moveaxis(jnp.asarray(batch["traceable"], jnp.float32), 1, 0)[..., None]
        feats, styled = self.per_frame(consts, frames)
        hw = frames.shape[2:4]
        state = vn.StreamState(frames[0], feats[0], styled[0], jnp.bool_(True))
        terms = {"coherence": 0.0, "occlusion": 0.0, "flow": 0.0, "epe": 0.0, "mask_traceable": 0.0, "mask_occluded": 0.0}
        n = frames.shape[0] - 1
        for t in range(1, frames.shape[0]):
            feat, aux = vn.composite_step(params, state, frames[t], feats[t], self.cfg.net, select_zero=False)
            out = sb.decode(consts["sb"], feat, self.sb_cfg, hw)
            target = flow_lib.warp(styled[t - 1], gt_flow[t])
            mg = traceable[t]
            mg_small = jax.image.resize(mg, aux["mask"].shape, "linear", antialias=True) > 0.5
            terms["coherence"] += jnp.mean(mg * jnp.square(out - target)) / n
            terms["occlusion"] += jnp.mean((1.0 - mg) * jnp.square(out - styled[t])) / n
            for k, v in flow_terms(aux["flow"], gt_flow[t]).items():
                terms[k] += v / n
            terms["mask_traceable"] += _masked_mean(aux["mask"], mg_small) / n
            terms["mask_occluded"] += _masked_mean(aux["mask"], ~mg_small) / n
            state = vn.StreamState(frames[t], feat, out, jnp.bool_(True))
        loss = (lw.coherence_weight * terms["coherence"] + lw.occlusion_weight * terms["occlusion"]
                + lw.flow_weight * terms["flow"])
        return loss, terms

    def phase_groups(self, phase: int) -> tuple[str, ...] | None:
        """The warm-up trains the flow net alone."""
        return ("flow",) if phase == 0 else None

    def loss(self, params: dict, batch: dict, consts: dict, phase: int, state: TrainState) -> tuple[jax.Array, dict]:
        return self.flow_loss(params, batch) if phase == 0 else self.clip_loss(params, batch, consts)

    def adjust_gradients(self, grads: dict, state: TrainState, phase: int) -> tuple[dict, None]:
        return grads, state.extra

    def sample(self, params: dict, batch: dict, consts: dict) -> np.ndarray:
        """The first clip's last two frames: inputs, per-frame, Net₁, the coherence target, masks."""
        frames = jnp.moveaxis(jnp.asarray(batch["frames"][:1], jnp.float32), 1, 0)  # (T, 1, H, W, 3)
        outs, aux = vn.stylize_clip(params, consts["sb"], consts["bank"], frames, self.sb_cfg, self.cfg.net)
        per_frame = vn.stylize_per_frame(consts["sb"], consts["bank"], frames, self.sb_cfg)
        hw = frames.shape[2:4]
        grey = lambda m: np.repeat(np.asarray(geometry.resize(m, hw)), 3, axis=-1)
        gt_flow = jnp.asarray(batch["flow"][:1, -1], jnp.float32)
        target = flow_lib.warp(per_frame[-2], gt_flow)[0]
        tiles = [frames[-2, 0], frames[-1, 0], per_frame[-1, 0], outs[-1, 0], jnp.clip(target, 0, 1),
                 grey(aux["mask"][-1, 0]), grey(np.asarray(batch["traceable"][0, -1], np.float32)[..., None])]
        labels = ["frame t-1", "frame t", "per-frame", "Net1", "warped per-frame t-1", "mask M", "GT traceable"]
        return sheets.contact_sheet([np.asarray(x) for x in tiles], ncols=len(tiles), labels=labels)

    def finish(self, params: dict, batches) -> tuple[dict, dict]:
        return params, {}

    def meta(self) -> dict:
        from styljax.losses.perceptual import jsonable

        return {"method": "video", "style": self.style, "train_config": jsonable(dataclasses.asdict(self.cfg))}


def flow_terms(pred: jax.Array, gt: jax.Array) -> dict:
    """Flow supervision of feature flows `pred` (N, h, w, 2) by image-resolution flows `gt`
    (N, H, W, 2), resized to (h, w): {"flow": mean ‖W − W^gt↓‖², "epe": mean ‖W − W^gt↓‖}."""
    err = pred - flow_lib.resize_flow(gt, pred.shape[1:3])
    return {"flow": jnp.mean(jnp.sum(jnp.square(err), axis=-1)), "epe": jnp.mean(jnp.linalg.norm(err, axis=-1))}


def _masked_mean(x: jax.Array, m: jax.Array) -> jax.Array:
    m = m.astype(jnp.float32)
    return jnp.sum(x * m) / jnp.maximum(jnp.sum(m), 1.0)
