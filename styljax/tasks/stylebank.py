"""StyleBank training as a `styljax.training.Task`: the (T+1) schedule and incremental new styles.

Losses (VGG-16 loss network; layers, weights and Gram normalisation in `PerceptualLoss`):

    L_K = α Σ_l ‖F_l(O_i) − F_l(I)‖² + β Σ_l d(G_l(O_i), G_l(S_i)) + γ TV(O_i)      O_i = D(K_i ⊗ E(I))
    L_I = ‖D(E(I)) − I‖²

Schedule (paper §3.3): in every block of T+1 steps, T steps of the stylizing branch update E, D
and the banks with ∂L_K, then one auto-encoder step updates E and D only with ∂L_I rescaled by
λ‖∂L_K‖/‖∂L_I‖ (‖·‖ the global L2 norm over E and D; ‖∂L_K‖ from the last stylizing step).

Batches pair content crops with styles: image j of step s gets style (s·B + j) mod K, so with
B ≥ K every bank trains at every stylizing step, and always within ⌈K/B⌉ steps.

What trains is the experiment config's `styljax.training.Trainable`: `TRAIN_ALL` (E, D and the
banks, each group its own Adam), `TRAIN_AUTOENCODER` (the reconstruction stage) or
`TRAIN_NEW_BANKS` (incremental learning of a new style: only its bank, E and D frozen and
bit-identical). The shared `styljax.training.train_step` applies it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from styljax.imaging import sheets
from styljax.losses import feature_losses, perceptual
from styljax.losses.perceptual import PerceptualLoss, jsonable
from styljax.nets import stylebank as sb
from styljax.training import NEW, Group, Trainable, TrainState
from styljax.tasks.base import PerceptualTask


StyleBankLoss = PerceptualLoss  # the StyleBank name of the shared objective's config


@dataclasses.dataclass(frozen=True)
class ReconstructionLoss:
    """L_I, the auto-encoder branch's objective: w_px ‖O − I‖² + Σ_l w_l ‖F_l(O) − F_l(I)‖².

    The paper's L_I is the pixel term alone (`content_layers=()`). Pixels alone let a 4× down-
    sampling auto-encoder blur: VGG content terms (relu2_2, relu3_3) ask for the edges and textures
    the stylizing branch must keep.
    """

    pixel_weight: float = 1.0
    content_layers: tuple[tuple[str, float], ...] = ()


@dataclasses.dataclass(frozen=True)
class StyleBankTrainConfig:
    """Attributes:
      autoencoder_only: train E and D on `identity` alone (every step the auto-encoder branch, at
        full gradient, banks frozen): the reconstruction stage that precedes the banks.
      identity: the auto-encoder branch's objective.
      bank_norm_weight: weight of log(RMS(K ⊗ F)/RMS(F))², which keeps every bank's output as loud
        as the features (see `stylebank.calibrate_banks`: the decoder cannot see the scale, the
        strength blend and the mixes can).
    """

    model: sb.StyleBankConfig = sb.StyleBankConfig()
    loss: StyleBankLoss = StyleBankLoss()
    T: int = 2
    lam: float = 1.0
    learning_rate: float = 1e-3
    decay_every: int = 1000
    decay_rate: float = 0.8
    autoencoder_only: bool = False
    identity: ReconstructionLoss = ReconstructionLoss()
    bank_norm_weight: float = 0.0


# What trains in each kind of StyleBank run (the experiment config picks one). The group names
# are kept in checkpoints: every filter names both, possibly with no leaves.
AUTOENCODER_PATHS = ("encoder/*", "decoder/*")
TRAIN_ALL = Trainable((Group("ae", AUTOENCODER_PATHS), Group("banks", ("banks/*",))))
TRAIN_AUTOENCODER = Trainable((Group("ae", AUTOENCODER_PATHS), Group("banks", ())))
TRAIN_NEW_BANKS = Trainable((Group("ae", ()), Group("banks", ("banks/" + NEW + "/*",))))


def global_norm(tree: Any) -> jax.Array:
    return optax.tree.norm(tree)


class StyleBankTask(PerceptualTask):
    """Trains a StyleBank model, or the part of it that `trainable` names, with the shared step
    (arguments: `PerceptualTask`)."""

    method = "stylebank"
    default_trainable = TRAIN_ALL

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cfg, trainable = self.cfg, self.trainable
        self.style_names = tuple(self.style_images)
        self.trainable_banks = tuple(n for n in self.style_names if self.trains(f"banks/{n}/kernel"))
        self.train_autoencoder = self.trains("encoder/kernel")
        if not (self.trainable_banks or cfg.autoencoder_only):
            raise ValueError(f"no bank of {list(self.style_names)} trains under {trainable}")
        identity_layers = tuple(n for n, _ in cfg.identity.content_layers)
        layers = identity_layers if cfg.autoencoder_only else tuple(dict.fromkeys(cfg.loss.layers + identity_layers))
        self.extract = self.vgg.extractor(layers)

    # --------------------------------------------------------------------------------- the task
    def init_params(self, key: jax.Array) -> dict:
        if self.start_params is None:
            return sb.init(key, self.cfg.model, self.style_names)
        params = jax.tree.map(jnp.asarray, self.start_params)
        for n in self.style_names:  # new styles get a fresh bank
            if n not in params["banks"]:
                key, sub = jax.random.split(key)
                params["banks"][n] = sb.init_bank(sub, self.cfg.model)
        return params

    def init_extra(self) -> dict:
        return {"gk_norm": jnp.float32(1.0)}

    def constants(self) -> dict:
        """VGG params and the style Gram targets {layer: (K, C, C)} in `style_names` order (none
        when only the auto-encoder trains)."""
        if self.cfg.autoencoder_only:
            return perceptual.style_targets(self.vgg, dataclasses.replace(self.cfg.loss, style_layers=()), {})
        return perceptual.style_targets(self.vgg, self.cfg.loss, self.style_images)

    def style_ids(self, step: jax.Array, batch_size: int) -> jax.Array:
        """Styles (indices into `style_names`) of the images of a batch: round-robin over banks
        that train, so frozen banks are never the target."""
        pool = [self.style_names.index(n) for n in self.trainable_banks]
        return perceptual.round_robin_styles(step, batch_size, pool)

    def stylize_loss(self, params: dict, images: jax.Array, ids: jax.Array, consts: dict):
        """L_K for a batch with per-image styles `ids`."""
        mcfg = self.cfg.model
        f = sb.encode(params, images, mcfg)
        stacked = sb.stack_banks(params["banks"], self.style_names)
        per_image = jax.tree.map(lambda x: x[ids], stacked)
        g = sb.apply_banks_per_image(per_image, f, mcfg)
        out = sb.decode(params, g, mcfg, images.shape[1:3])
        loss, parts = perceptual.perceptual_loss(self.extract, self.cfg.loss, consts, out, images, ids)
        if self.cfg.bank_norm_weight:
            rms = lambda x: jnp.sqrt(jnp.mean(jnp.square(x.astype(jnp.float32)), axis=(1, 2, 3)) + 1e-12)
            parts["bank_norm"] = self.cfg.bank_norm_weight * jnp.mean(jnp.square(jnp.log(rms(g) / rms(f))))
            loss = loss + parts["bank_norm"]
        return loss, parts

    def identity_loss(self, params: dict, images: jax.Array, consts: dict | None = None) -> jax.Array:
        """L_I (`ReconstructionLoss`) of the auto-encoder branch `reconstruct`."""
        ident = self.cfg.identity
        out = sb.reconstruct(params, images, self.cfg.model)
        loss = ident.pixel_weight * jnp.mean(jnp.square(out - images))
        if ident.content_layers:
            f_out = self.extract(consts["vgg"], out)
            f_in = jax.lax.stop_gradient(self.extract(consts["vgg"], images))
            loss = loss + feature_losses.content_loss(f_out, f_in, dict(ident.content_layers))
        return loss

    def phase(self, step: int) -> int:
        """0: stylizing branch, 1: auto-encoder branch (every (T+1)-th step when E, D train; every
        step with `autoencoder_only`)."""
        if self.cfg.autoencoder_only:
            return 1
        if not self.train_autoencoder or self.cfg.T < 1:
            return 0
        return int(step % (self.cfg.T + 1) == self.cfg.T)

    def phase_groups(self, phase: int) -> tuple[str, ...] | None:
        """The stylizing branch trains everything the filter names; the auto-encoder branch E and D only."""
        return None if phase == 0 else ("ae",)

    def loss(self, params: dict, batch: dict, consts: dict, phase: int, state: TrainState) -> tuple[jax.Array, dict]:
        images = jnp.asarray(batch["image"], jnp.float32)
        if phase == 0:  # stylizing branch: L_K
            loss, parts = self.stylize_loss(params, images, self.style_ids(state.step, images.shape[0]), consts)
            return loss, {**parts, "branch": jnp.int32(0)}
        loss = self.identity_loss(params, images, consts)  # auto-encoder branch: L_I
        return loss, {"identity": loss, "branch": jnp.int32(1)}

    def adjust_gradients(self, grads: dict, state: TrainState, phase: int) -> tuple[dict, Any]:
        """The paper's rescaling: the auto-encoder branch's gradient of E and D gets λ times the norm
        of the last stylizing branch's (kept in `extra`), so neither branch drowns the other."""
        ae = {"encoder": grads["encoder"], "decoder": grads["decoder"]}
        if phase == 0:
            return grads, ({"gk_norm": global_norm(ae)} if self.train_autoencoder else state.extra)
        if self.cfg.autoencoder_only:
            return grads, state.extra
        scale = self.cfg.lam * state.extra["gk_norm"] / (global_norm(ae) + 1e-12)
        return {**grads, **jax.tree.map(lambda x: x * scale, ae)}, state.extra

    def sample(self, params: dict, batch: dict, consts: dict) -> np.ndarray:
        """Contact sheet: the first two crops of the batch and their renderings in every style."""
        x = jnp.asarray(batch["image"][:2], jnp.float32)
        outs = sb.render_all(params, x, self.cfg.model, self.style_names, clip=True)  # (K, B, H, W, 3)
        recon = sb.reconstruct(params, x, self.cfg.model, clip=True)
        tiles, labels = [], []
        for i in range(x.shape[0]):
            tiles += [np.asarray(x[i]), np.asarray(recon[i])] + [np.asarray(outs[k, i]) for k in range(outs.shape[0])]
            labels += ["input", "auto-encoder"] + list(self.style_names)
        return sheets.contact_sheet(tiles, ncols=2 + len(self.style_names), labels=labels)

    def finish(self, params: dict, batches) -> tuple[dict, dict]:
        """The trained banks scaled to gain 1 on a few training crops (`stylebank.calibrate_banks`:
        the full-strength look is unchanged, the strength blend and mixes get banks of equal
        loudness); returns (params, {"bank_gains": the gains divided out})."""
        if not self.trainable_banks or not self.cfg.model.bank_is_affine:
            return params, {}
        images = np.concatenate([batches[i]["image"] for i in range(max(1, 8 // len(batches[0]["image"])))])
        params, gains = sb.calibrate_banks(params, images, self.cfg.model, self.trainable_banks)
        return params, {"bank_gains": {n: round(g, 4) for n, g in gains.items()}}

    def meta(self) -> dict:
        return {
            "method": "stylebank",
            "styles": list(self.style_names),
            "trainable_banks": list(self.trainable_banks),
            "train_autoencoder": self.train_autoencoder,
            "train_config": jsonable(dataclasses.asdict(self.cfg)),
            "vgg": perceptual.vgg_meta(self.vgg),
        }

