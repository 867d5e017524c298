"""Transform-net training (CIN, Johnson) as a `styljax.training.Task` on the shared perceptual loss.

    min  E_I [ L(T(I; θ, γ_s, β_s); I, s) ]        (`styljax.losses.perceptual`)

over the convolutions θ and every style's γ/β (CIN: N styles, image j of a batch gets style
(step·B + j) mod N; Johnson: one style). A new style (`TRAIN_NEW_STYLES`) trains only its own
γ/β: the convolutions and the other styles are frozen (no optimizer state, bit-identical) by the
shared step (Dumoulin et al.'s fine-tuning, Magenta's `image_stylization_finetune.py`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from styljax.imaging import sheets
from styljax.nets import transform as tr
from styljax.nets.strength import restore_tone
from styljax.losses import perceptual
from styljax.losses.perceptual import PerceptualLoss, jsonable
from styljax.training import NEW, Group, Trainable, TrainState
from styljax.tasks.base import PerceptualTask


@dataclasses.dataclass(frozen=True)
class TransformTrainConfig:
    """Args:
      identity_style: also train the reserved `identity` style (`tr.IDENTITY_STYLE`) on the content
        and TV terms alone, beside the painted ones: the γ/β that reproduce the photo through the
        same net, which strength 0 interpolates toward (`styljax.nets.strength`).
      identity_pixel_weight: weight of the pixel term w·‖tone(O) − I‖² on the images the identity
        style renders, `tone` the model's `restore_tone` at strength 0 when it has one: VGG terms
        alone let the identity path drift in tone and fine detail (18 dB); strength 0 is meant to
        give the photo back.
      anchor_weight: weight of λ Σ_s Σ_n mean((γ_s,n − γ_id,n)² + (β_s,n − β_id,n)²) over the
        painted styles s and the norms n of `anchor_norms`, the identity's γ/β held fixed in it:
        the trained form of `tr.toward_in`, which keeps the residual blocks' first norms, where
        CIN's streaks are switched on, near the identity style's.
    """

    model: tr.TransformConfig = tr.TransformConfig.cin()
    loss: PerceptualLoss = PerceptualLoss()
    learning_rate: float = 1e-3
    decay_every: int = 1000
    decay_rate: float = 0.8
    identity_style: bool = False
    identity_pixel_weight: float = 0.0
    anchor_weight: float = 0.0
    anchor_norms: tuple[str, ...] = tr.RESIDUAL_FIRST_NORMS


TRAIN_ALL = Trainable((Group("train", ("net/*", "styles/*")),))
TRAIN_NEW_STYLES = Trainable((Group("train", ("styles/" + NEW + "/*",)),))


class TransformTask(PerceptualTask):
    """Trains a transform net with its styles' γ/β, or whatever part of them `trainable` names
    (arguments: `PerceptualTask`)."""

    method = "cin"
    default_trainable = TRAIN_ALL

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cfg, trainable = self.cfg, self.trainable
        if cfg.identity_style and tr.IDENTITY_STYLE in self.style_images:
            raise ValueError(f"{tr.IDENTITY_STYLE!r} is the reserved content-only style; rename that style image")
        self.style_names = tuple(self.style_images) + ((tr.IDENTITY_STYLE,) if cfg.identity_style else ())
        self.trainable_styles = tuple(n for n in self.style_names if self.trains(f"styles/{n}/gamma"))
        self.train_net = self.trains("net/conv/kernel")
        if (cfg.identity_pixel_weight or cfg.anchor_weight) and not cfg.identity_style:
            raise ValueError("identity_pixel_weight and anchor_weight need identity_style")
        if not self.trainable_styles:
            raise ValueError(f"no style of {list(self.style_names)} trains under {trainable}")
        self.extract = self.vgg.extractor(cfg.loss.layers)

    def init_params(self, key: jax.Array) -> dict:
        if self.start_params is None:
            return tr.init(key, self.cfg.model, self.style_names)
        params = jax.tree.map(jnp.asarray, self.start_params)
        known = dict(params["styles"])
        for n in self.style_names:  # a new style starts from the mean γ/β of the known ones
            if n not in params["styles"]:
                params["styles"][n] = (tr.mix_styles(known, {k: 1.0 for k in known}) if known
                                       else tr.init_style(self.cfg.model))
        return params

    def init_extra(self) -> None:
        return None

    def constants(self) -> dict:
        consts = perceptual.style_targets(self.vgg, self.cfg.loss, self.style_images)
        if self.cfg.identity_style:  # a zero target that its style_on of 0 switches off
            consts["grams"] = {l: jnp.concatenate([g, jnp.zeros_like(g[:1])]) for l, g in consts["grams"].items()}
            consts["style_on"] = jnp.asarray([1.0] * len(self.style_images) + [0.0], jnp.float32)
        return consts

    def phase(self, step: int) -> int:
        return 0

    def style_ids(self, step: jax.Array, batch_size: int) -> jax.Array:
        pool = [self.style_names.index(n) for n in self.trainable_styles]
        return perceptual.round_robin_styles(step, batch_size, pool)

    def perceptual_loss(self, params: dict, images: jax.Array, ids: jax.Array, consts: dict):
        """The perceptual loss of a batch, image j rendered with style `style_names[ids[j]]`."""
        per_image = jax.tree.map(lambda x: x[ids], tr.stack_styles(params["styles"], self.style_names))  # (B, C)
        out = tr.stylize_with(params, images, per_image, self.cfg.model)
        total, parts = perceptual.perceptual_loss(self.extract, self.cfg.loss, consts, out, images, ids)
        if self.cfg.identity_pixel_weight:
            parts["pixel"] = self.cfg.identity_pixel_weight * self._identity_pixel_error(out, images, ids)
            total = total + parts["pixel"]
        if self.cfg.anchor_weight:
            parts["anchor"] = self.cfg.anchor_weight * self._anchor_distance(params["styles"])
            total = total + parts["anchor"]
        return total, parts

    def _identity_pixel_error(self, out: jax.Array, images: jax.Array, ids: jax.Array) -> jax.Array:
        """Mean over the batch of ‖tone(O_j) − I_j‖² (per-pixel mean), counted for the identity's images."""
        if self.cfg.model.restore_tone:
            out = restore_tone(out, images)
        is_identity = (ids == self.style_names.index(tr.IDENTITY_STYLE)).astype(jnp.float32)
        return jnp.mean(jnp.mean(jnp.square(out - images), axis=(1, 2, 3)) * is_identity)

    def _anchor_distance(self, styles: dict) -> jax.Array:
        neutral = jax.lax.stop_gradient(styles[tr.IDENTITY_STYLE])
        painted = [n for n in self.style_names if n != tr.IDENTITY_STYLE]
        return sum(jnp.mean(jnp.square(styles[s][n][k] - neutral[n][k]))
                   for s in painted for n in self.cfg.anchor_norms for k in ("scale", "bias"))

    def phase_groups(self, phase: int) -> None:
        return None

    def loss(self, params: dict, batch: dict, consts: dict, phase: int, state: TrainState) -> tuple[jax.Array, dict]:
        images = jnp.asarray(batch["image"], jnp.float32)
        return self.perceptual_loss(params, images, self.style_ids(state.step, images.shape[0]), consts)

    def adjust_gradients(self, grads: dict, state: TrainState, phase: int) -> tuple[dict, None]:
        return grads, state.extra

    def sample(self, params: dict, batch: dict, consts: dict) -> np.ndarray:
        """Contact sheet: the first two crops of the batch and their renderings in every style."""
        x = jnp.asarray(batch["image"][:2], jnp.float32)
        outs = np.asarray(tr.render_all(params, x, self.cfg.model, self.style_names, clip=True))
        tiles, labels = [], []
        for i in range(x.shape[0]):
            tiles += [np.asarray(x[i])] + [outs[k, i] for k in range(outs.shape[0])]
            labels += ["input"] + list(self.style_names)
        return sheets.contact_sheet(tiles, ncols=1 + len(self.style_names), labels=labels)

    def finish(self, params: dict, batches) -> tuple[dict, dict]:
        return params, {}

    def meta(self) -> dict:
        return {
            "method": self.name,
            "styles": list(self.style_names),
            "trainable_styles": list(self.trainable_styles),
            "train_net": self.train_net,
            "train_config": jsonable(dataclasses.asdict(self.cfg)),
            "vgg": perceptual.vgg_meta(self.vgg),
        }
