"""StyleBank training as a `styljax.training.Task`: the (T+1) schedule and incremental new styles.

Losses (VGG-16 loss network; layers, weights and Gram normalisation in `StyleBankLoss`):

    L_K = α Σ_l ‖F_l(O_i) − F_l(I)‖² + β Σ_l d(G_l(O_i), G_l(S_i)) + γ TV(O_i)      O_i = D(K_i ⊗ E(I))
    L_I = ‖D(E(I)) − I‖²

Schedule (paper §3.3): in every block of T+1 steps, T steps of the stylising branch update E, D
and the banks with ∂L_K, then one auto-encoder step updates E and D only with ∂L_I rescaled by
λ‖∂L_K‖/‖∂L_I‖ (‖·‖ the global L2 norm over E and D; ‖∂L_K‖ from the last stylising step).

Batches pair content crops with styles: image j of step s gets style (s·B + j) mod K, so with
B ≥ K every bank trains at every stylising step, and always within ⌈K/B⌉ steps.

Freezing: the optimizer only ever sees the trainable subtree. `trainable_banks` names the banks
that train; `train_autoencoder=False` freezes E and D (incremental learning of a new style:
`add_style_task`). Frozen params are closed over as constants of the step, never updated, and
have no optimizer state, so they stay bit-identical.
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
from styljax.training import TrainState
from styljax.vgg import VggWeights


@dataclasses.dataclass(frozen=True)
class StyleBankLoss:
    """Perceptual loss configuration (explicit VGG layers, Gram normalisation and weights)."""

    content_layers: tuple[tuple[str, float], ...] = (("relu4_2", 1.0),)  # paper
    # The paper's layers. Per-layer weights balance the layers' Gram distances: with the bundled
    # HED VGG-16 and "chw" Grams, an unstyled Kodak photo's distance to the six paintings has median
    # 1564 (relu1_2), 4.48 (relu2_2), 0.299 (relu3_2), 9.3e-4 (relu4_2); with equal weights the
    # loss is relu1_2 alone (colour statistics) and the net learns no texture. Weights ≈ 1/median.
    style_layers: tuple[tuple[str, float], ...] = (
        ("relu1_2", 1.0), ("relu2_2", 350.0), ("relu3_2", 5e3), ("relu4_2", 1.5e6),
    )
    # Balance of the terms: an unstyled photo scores ~6000 on the balanced style loss, a trained
    # net ~50-300 on content (relu4_2 MSE); β = 1 lets style lead by ~10x, as in Johnson-style
    # training. β = 10 (style ~1000x content) gave blob artefacts and lost the content.
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 10.0
    gram_norm: str = "chw"
    style_size: int = 256  # style images' max side when computing their Gram targets

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for n, _ in self.content_layers + self.style_layers))

    @classmethod
    def from_json(cls, d: dict) -> StyleBankLoss:
        """Inverse of `dataclasses.asdict` after a JSON round trip (layer lists back to tuples)."""
        layer_keys = ("content_layers", "style_layers")
        return cls(**{k: tuple((str(n), float(w)) for n, w in v) if k in layer_keys else v for k, v in d.items()})


@dataclasses.dataclass(frozen=True)
class StyleBankTrainConfig:
    model: sb.StyleBankConfig = sb.StyleBankConfig()
    loss: StyleBankLoss = StyleBankLoss()
    T: int = 2
    lam: float = 1.0
    learning_rate: float = 1e-3
    decay_every: int = 1000
    decay_rate: float = 0.8


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
        self.train_autoencoder = train_autoencoder
        unknown = set(self.trainable_banks) - set(self.style_names)
        if unknown:
            raise ValueError(f"trainable banks {sorted(unknown)} have no style image")
        self.extract = vgg.extractor(cfg.loss.layers)
        self.ae_opt = optax.adam(_schedule(cfg))
        self.bank_opt = optax.adam(_schedule(cfg))

    # ----------------------------------------------------------------------------- partitioning
    def split(self, params: dict) -> tuple[dict, dict]:
        """(trainable, frozen) subtrees of the full params."""
        ae = {k: params[k] for k in ("encoder", "decoder")}
        train = {"banks": {n: params["banks"][n] for n in self.trainable_banks}}
        frozen = {"banks": {n: b for n, b in params["banks"].items() if n not in self.trainable_banks}}
        if self.train_autoencoder:
            train["ae"] = ae
        else:
            frozen["ae"] = ae
        return train, frozen

    @staticmethod
    def merge(train: dict, frozen: dict) -> dict:
        ae = train.get("ae", frozen.get("ae"))
        return {**ae, "banks": {**frozen["banks"], **train["banks"]}}

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
        train, _ = self.split(params)
        opt_state = {"banks": self.bank_opt.init(train["banks"])}
        if self.train_autoencoder:
            opt_state["ae"] = self.ae_opt.init(train["ae"])
        return TrainState(jnp.int32(0), params, opt_state, {"gk_norm": jnp.float32(1.0)})

    def constants(self) -> dict:
        """VGG params and the style Gram targets {layer: (K, C, C)} in `style_names` order."""
        grams = {l: [] for l, _ in self.cfg.loss.style_layers}
        fn = jax.jit(self.extract)
        for n in self.style_names:
            s = self.style_images[n]
            s = image_lib.resize(s, image_lib.fit_max_side(*s.shape[:2], self.cfg.loss.style_size))
            feats = fn(self.vgg.params, s[None])
            for l in grams:
                grams[l].append(losses.gram(feats[l], self.cfg.loss.gram_norm)[0])
        return {"vgg": self.vgg.params, "grams": {l: jnp.stack(g) for l, g in grams.items()}}

    def style_ids(self, step: jax.Array, batch_size: int) -> jax.Array:
        """Styles (indices into `style_names`) of the images of a batch: round-robin over banks
        that train, so frozen banks are never the target."""
        trainable = jnp.asarray([self.style_names.index(n) for n in self.trainable_banks], jnp.int32)
        j = (step * batch_size + jnp.arange(batch_size)) % trainable.shape[0]
        return trainable[j]

    def stylise_loss(self, params: dict, images: jax.Array, ids: jax.Array, consts: dict):
        """L_K for a batch with per-image styles `ids`."""
        lc = self.cfg.loss
        mcfg = self.cfg.model
        f = sb.encode(params, images, mcfg)
        stacked = sb.stack_banks(params["banks"], self.style_names)
        per_image = jax.tree.map(lambda x: x[ids], stacked)
        g = jax.vmap(lambda bank, x: sb.apply_bank(bank, x[None], mcfg)[0])(per_image, f)
        out = sb.decode(params, g, mcfg, images.shape[1:3])
        feats = self.extract(consts["vgg"], jnp.concatenate([out, images]))
        b = images.shape[0]
        f_out = {k: v[:b] for k, v in feats.items()}
        f_in = {k: jax.lax.stop_gradient(v[b:]) for k, v in feats.items()}
        targets = {l: consts["grams"][l][ids] for l, _ in lc.style_layers}
        parts = {
            "content": lc.content_weight * losses.content_loss(f_out, f_in, dict(lc.content_layers)),
            "style": lc.style_weight * losses.style_loss(f_out, targets, dict(lc.style_layers), lc.gram_norm),
            "tv": lc.tv_weight * losses.tv_loss(out),
        }
        return parts["content"] + parts["style"] + parts["tv"], parts

    def identity_loss(self, params: dict, images: jax.Array) -> jax.Array:
        return jnp.mean(jnp.square(sb.reconstruct(params, images, self.cfg.model) - images))

    def phase(self, step: int) -> int:
        """0: stylising branch, 1: auto-encoder branch (every (T+1)-th step when E, D train)."""
        if not self.train_autoencoder or self.cfg.T < 1:
            return 0
        return int(step % (self.cfg.T + 1) == self.cfg.T)

    def train_step(
        self, state: TrainState, batch: dict, consts: dict, phase: int = 0
    ) -> tuple[TrainState, dict]:
        images = jnp.asarray(batch["image"], jnp.float32)
        ids = self.style_ids(state.step, images.shape[0])
        train, frozen = self.split(state.params)

        def stylise(_):
            def loss_fn(t):
                return self.stylise_loss(self.merge(t, frozen), images, ids, consts)

            (loss, parts), grads = jax.value_and_grad(loss_fn, has_aux=True)(train)
            new_train, opt_state = dict(train), dict(state.opt_state)
            upd, opt_state["banks"] = self.bank_opt.update(grads["banks"], state.opt_state["banks"], train["banks"])
            new_train["banks"] = optax.apply_updates(train["banks"], upd)
            gk = state.extra["gk_norm"]
            if self.train_autoencoder:
                upd, opt_state["ae"] = self.ae_opt.update(grads["ae"], state.opt_state["ae"], train["ae"])
                new_train["ae"] = optax.apply_updates(train["ae"], upd)
                gk = global_norm(grads["ae"])
            metrics = {"loss": loss, **parts, "branch": jnp.int32(0)}
            return new_train, opt_state, {"gk_norm": gk}, metrics

        def autoencode(_):
            loss, g = jax.value_and_grad(lambda ae: self.identity_loss({**ae, "banks": {}}, images))(train["ae"])
            g = jax.tree.map(lambda x: x * (self.cfg.lam * state.extra["gk_norm"] / (global_norm(g) + 1e-12)), g)
            upd, ae_state = self.ae_opt.update(g, state.opt_state["ae"], train["ae"])
            new_train = {**train, "ae": optax.apply_updates(train["ae"], upd)}
            metrics = {"loss": loss, "identity": loss, "branch": jnp.int32(1)}
            return new_train, {**state.opt_state, "ae": ae_state}, state.extra, metrics

        new_train, opt_state, extra, metrics = (autoencode if phase == 1 else stylise)(None)
        params = self.merge(new_train, frozen)
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
            "vgg": {"depth": self.vgg.depth, "convention": self.vgg.convention.name, "source": self.vgg.source},
        }


def jsonable(x):
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (int, float, str, bool)) or x is None:
        return x
    return str(x)
