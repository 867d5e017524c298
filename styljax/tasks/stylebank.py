"""StyleBank training as a `styljax.training.Task`: the (T+1) schedule and incremental new styles.

Losses (VGG-16 loss network; layers, weights and Gram normalisation in `PerceptualLoss`):

    L_K = α Σ_l ‖F_l(O_i) − F_l(I)‖² + β Σ_l d(G_l(O_i), G_l(S_i)) + γ TV(O_i)      O_i = D(K_i ⊗ E(I))
    L_I = ‖D(E(I)) − I‖²

Schedule (paper §3.3): in every block of T+1 steps, T steps of the stylizing branch update E, D
and the banks with ∂L_K, then one auto-encoder step updates E and D only with ∂L_I rescaled by
λ‖∂L_K‖/‖∂L_I‖ (‖·‖ the global L2 norm over E and D; ‖∂L_K‖ from the last stylizing step).

Batches pair content crops with styles: image j of step s gets style (s·B + j) mod K, so with
B ≥ K every bank trains at every stylizing step, and always within ⌈K/B⌉ steps.

Freezing: one `optax.partition` over the whole params tree (`labels`): an Adam for E and D, one
for the banks that train, and `optax.set_to_zero` for everything frozen, which therefore has no
optimizer state and stays bit-identical. `trainable_banks` names the banks that train;
`train_autoencoder=False` freezes E and D (incremental learning of a new style: `add_style_task`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from styljax import image as image_lib
from styljax import losses
from styljax.models import stylebank as sb
from styljax.tasks import perceptual
from styljax.tasks.perceptual import PerceptualLoss, jsonable
from styljax.training import TrainState
from styljax.vgg import VggWeights


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


def _schedule(cfg: StyleBankTrainConfig) -> optax.Schedule:
    return optax.exponential_decay(cfg.learning_rate, cfg.decay_every, cfg.decay_rate, staircase=True)


def global_norm(tree: Any) -> jax.Array:
    return optax.tree.norm(tree)


class StyleBankTask:
    """Trains a StyleBank model (all of it, or only some banks) with the shared loop."""

    name = "stylebank"

    def __init__(
        self,
        cfg: StyleBankTrainConfig,
        vgg: VggWeights,
        styles: Mapping[str, np.ndarray],
        *,
        init_params: dict | None = None,
        trainable_banks: Sequence[str] | None = None,
        train_autoencoder: bool = True,
    ):
        self.cfg = cfg
        self.vgg = vgg
        self.style_names = tuple(styles)
        self.style_images = {n: np.asarray(s, np.float32) for n, s in styles.items()}
        self.init_params = init_params
        self.trainable_banks = tuple(self.style_names if trainable_banks is None else trainable_banks)
        if cfg.autoencoder_only:
            self.trainable_banks, train_autoencoder = (), True
        self.train_autoencoder = train_autoencoder
        unknown = set(self.trainable_banks) - set(self.style_names)
        if unknown:
            raise ValueError(f"trainable banks {sorted(unknown)} have no style image")
        identity_layers = tuple(n for n, _ in cfg.identity.content_layers)
        layers = identity_layers if cfg.autoencoder_only else tuple(dict.fromkeys(cfg.loss.layers + identity_layers))
        self.extract = vgg.extractor(layers)
        # One optimizer over the whole params tree: an Adam for the auto-encoder and one for the
        # banks that train (the T+1 schedule updates them at different steps), `set_to_zero` with
        # no state for everything frozen.
        self.opt = optax.partition(
            {"ae": optax.adam(_schedule(cfg)), "banks": optax.adam(_schedule(cfg)), "frozen": optax.set_to_zero()},
            self.labels,
        )

    def labels(self, params: dict) -> dict:
        """The optimizer partition of every leaf: "ae", "banks" (the banks that train) or "frozen"."""
        ae = "ae" if self.train_autoencoder else "frozen"
        return {
            "encoder": jax.tree.map(lambda _: ae, params["encoder"]),
            "decoder": jax.tree.map(lambda _: ae, params["decoder"]),
            "banks": {n: jax.tree.map(lambda _, n=n: "banks" if n in self.trainable_banks else "frozen", b)
                      for n, b in params["banks"].items()},
        }

    # --------------------------------------------------------------------------------- the task
    def init_state(self, key: jax.Array) -> TrainState:
        if self.init_params is not None:
            params = jax.tree.map(jnp.asarray, self.init_params)
            k = key
            for n in self.style_names:  # new styles get a fresh bank
                if n not in params["banks"]:
                    k, sub = jax.random.split(k)
                    params["banks"][n] = sb.init_bank(sub, self.cfg.model)
        else:
            params = sb.init(key, self.cfg.model, self.style_names)
        return TrainState(jnp.int32(0), params, self.opt.init(params), {"gk_norm": jnp.float32(1.0)})

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
            loss = loss + losses.content_loss(f_out, f_in, dict(ident.content_layers))
        return loss

    def phase(self, step: int) -> int:
        """0: stylizing branch, 1: auto-encoder branch (every (T+1)-th step when E, D train; every
        step with `autoencoder_only`)."""
        if self.cfg.autoencoder_only:
            return 1
        if not self.train_autoencoder or self.cfg.T < 1:
            return 0
        return int(step % (self.cfg.T + 1) == self.cfg.T)

    def train_step(
        self, state: TrainState, batch: dict, consts: dict, phase: int = 0
    ) -> tuple[TrainState, dict]:
        images = jnp.asarray(batch["image"], jnp.float32)
        params = state.params
        if phase == 0:  # stylizing branch: E, D and the banks that train, on L_K
            ids = self.style_ids(state.step, images.shape[0])
            if self.train_autoencoder:
                (loss, parts), grads = jax.value_and_grad(
                    lambda p: self.stylize_loss(p, images, ids, consts), has_aux=True)(params)
            else:  # a frozen E and D: no kernel gradients for them, and no backward pass through E
                (loss, parts), g = jax.value_and_grad(
                    lambda b: self.stylize_loss({**params, "banks": b}, images, ids, consts), has_aux=True)(params["banks"])
                grads = {"encoder": jax.tree.map(jnp.zeros_like, params["encoder"]),
                         "decoder": jax.tree.map(jnp.zeros_like, params["decoder"]), "banks": g}
            updates, opt_state = self.opt.update(grads, state.opt_state, params)
            extra = {"gk_norm": global_norm([grads["encoder"], grads["decoder"]])} if self.train_autoencoder else state.extra
            metrics = {"loss": loss, **parts, "branch": jnp.int32(0)}
        else:  # auto-encoder branch: E, D only, on L_I rescaled to the last stylizing gradient's norm
            ae = {"encoder": params["encoder"], "decoder": params["decoder"]}
            loss, g = jax.value_and_grad(lambda a: self.identity_loss({**a, "banks": {}}, images, consts))(ae)
            if not self.cfg.autoencoder_only:  # the paper's rescaling to the stylizing gradient
                g = jax.tree.map(lambda x: x * (self.cfg.lam * state.extra["gk_norm"] / (global_norm(g) + 1e-12)), g)
            grads = {**g, "banks": jax.tree.map(jnp.zeros_like, params["banks"])}
            updates, opt_state = self.opt.update(grads, state.opt_state, params)
            # the banks sit this step out: no update, and their Adam state stays as it was
            updates = {**updates, "banks": jax.tree.map(jnp.zeros_like, updates["banks"])}
            opt_state = opt_state._replace(
                inner_states={**opt_state.inner_states, "banks": state.opt_state.inner_states["banks"]})
            extra = state.extra
            metrics = {"loss": loss, "identity": loss, "branch": jnp.int32(1)}
        params = optax.apply_updates(params, updates)
        return TrainState(state.step + 1, params, opt_state, extra), metrics

    def sample(self, params: dict, batch: dict, consts: dict) -> np.ndarray:
        """Contact sheet: the first two crops of the batch and their renderings in every style."""
        x = jnp.asarray(batch["image"][:2], jnp.float32)
        outs = sb.render_all(params, x, self.cfg.model, self.style_names, clip=True)  # (K, B, H, W, 3)
        recon = sb.reconstruct(params, x, self.cfg.model, clip=True)
        tiles, labels = [], []
        for i in range(x.shape[0]):
            tiles += [np.asarray(x[i]), np.asarray(recon[i])] + [np.asarray(outs[k, i]) for k in range(outs.shape[0])]
            labels += ["input", "auto-encoder"] + list(self.style_names)
        return image_lib.contact_sheet(tiles, ncols=2 + len(self.style_names), labels=labels)

    def meta(self) -> dict:
        return {
            "method": "stylebank",
            "styles": list(self.style_names),
            "trainable_banks": list(self.trainable_banks),
            "train_autoencoder": self.train_autoencoder,
            "train_config": jsonable(dataclasses.asdict(self.cfg)),
            "vgg": perceptual.vgg_meta(self.vgg),
        }

