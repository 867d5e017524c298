"""Transform-net training (CIN, Johnson) as a `styljax.training.Task` on the shared perceptual loss.

    min  E_I [ L(T(I; θ, γ_s, β_s); I, s) ]        (`styljax.tasks.perceptual`)

over the convolutions θ and every style's γ/β (CIN: N styles, image j of a batch gets style
(step·B + j) mod N; Johnson: one style). A new style (`train_net=False`, `trainable_styles=[new]`)
trains only its own γ/β: an `optax.partition` gives the convolutions and the other styles
`set_to_zero`, so they have no optimizer state and stay bit-identical (Dumoulin et al.'s
fine-tuning, Magenta's `image_stylization_finetune.py`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from styljax import image as image_lib
from styljax.models import transform as tr
from styljax.tasks import perceptual
from styljax.tasks.perceptual import PerceptualLoss, jsonable
from styljax.training import TrainState
from styljax.vgg import VggWeights


@dataclasses.dataclass(frozen=True)
class TransformTrainConfig:
    """Args:
      identity_style: also train the reserved `identity` style (`tr.IDENTITY_STYLE`) on the content
        and TV terms alone, beside the painted ones: the γ/β that reproduce the photo through the
        same net, which strength 0 interpolates toward (`styljax.models.strength`).
    """

    model: tr.TransformConfig = tr.TransformConfig.cin()
    loss: PerceptualLoss = PerceptualLoss()
    learning_rate: float = 1e-3
    decay_every: int = 1000
    decay_rate: float = 0.8
    identity_style: bool = False


class TransformTask:
    """Trains a transform net with its styles' γ/β, or only some styles' γ/β on a frozen net."""

    def __init__(
        self,
        cfg: TransformTrainConfig,
        vgg: VggWeights,
        styles: Mapping[str, np.ndarray],
        *,
        method: str = "cin",
        init_params: dict | None = None,
        trainable_styles: Sequence[str] | None = None,
        train_net: bool = True,
    ):
        self.name = method
        self.cfg = cfg
        self.vgg = vgg
        if cfg.identity_style and tr.IDENTITY_STYLE in styles:
            raise ValueError(f"{tr.IDENTITY_STYLE!r} is the reserved content-only style; rename that style image")
        self.style_images = {n: np.asarray(s, np.float32) for n, s in styles.items()}
        self.style_names = tuple(styles) + ((tr.IDENTITY_STYLE,) if cfg.identity_style else ())
        self.init_params = init_params
        self.trainable_styles = tuple(self.style_names if trainable_styles is None else trainable_styles)
        self.train_net = train_net
        unknown = set(self.trainable_styles) - set(self.style_names)
        if unknown:
            raise ValueError(f"trainable styles {sorted(unknown)} have no style image")
        self.extract = vgg.extractor(cfg.loss.layers)
        adam = optax.adam(optax.exponential_decay(cfg.learning_rate, cfg.decay_every, cfg.decay_rate, staircase=True))
        # frozen leaves: `set_to_zero`, no optimizer state, bit-identical
        self.opt = optax.partition({"train": adam, "frozen": optax.set_to_zero()}, self.labels)

    def labels(self, params: dict) -> dict:
        """The optimizer partition of every leaf: "train" or "frozen"."""
        net = "train" if self.train_net else "frozen"
        return {
            "net": jax.tree.map(lambda _: net, params["net"]),
            "styles": {n: jax.tree.map(lambda _, n=n: "train" if n in self.trainable_styles else "frozen", st)
                       for n, st in params["styles"].items()},
        }

    def init_state(self, key: jax.Array) -> TrainState:
        if self.init_params is None:
            params = tr.init(key, self.cfg.model, self.style_names)
        else:
            params = jax.tree.map(jnp.asarray, self.init_params)
            known = dict(params["styles"])
            for n in self.style_names:  # a new style starts from the mean γ/β of the known ones
                if n not in params["styles"]:
                    params["styles"][n] = (tr.mix_styles(known, {k: 1.0 for k in known}) if known
                                           else tr.init_style(self.cfg.model))
        return TrainState(jnp.int32(0), params, self.opt.init(params), None)

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

    def loss(self, params: dict, images: jax.Array, ids: jax.Array, consts: dict):
        """The perceptual loss of a batch, image j rendered with style `style_names[ids[j]]`."""
        per_image = jax.tree.map(lambda x: x[ids], tr.stack_styles(params["styles"], self.style_names))  # (B, C)
        out = tr.stylize_with(params, images, per_image, self.cfg.model)
        return perceptual.perceptual_loss(self.extract, self.cfg.loss, consts, out, images, ids)

    def train_step(self, state: TrainState, batch: dict, consts: dict, phase: int = 0) -> tuple[TrainState, dict]:
        images = jnp.asarray(batch["image"], jnp.float32)
        ids = self.style_ids(state.step, images.shape[0])
        (loss, parts), grads = jax.value_and_grad(
            lambda p: self.loss(p, images, ids, consts), has_aux=True)(state.params)
        updates, opt_state = self.opt.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(state.step + 1, params, opt_state, state.extra), {"loss": loss, **parts}

    def sample(self, params: dict, batch: dict, consts: dict) -> np.ndarray:
        """Contact sheet: the first two crops of the batch and their renderings in every style."""
        x = jnp.asarray(batch["image"][:2], jnp.float32)
        outs = np.asarray(tr.render_all(params, x, self.cfg.model, self.style_names, clip=True))
        tiles, labels = [], []
        for i in range(x.shape[0]):
            tiles += [np.asarray(x[i])] + [outs[k, i] for k in range(outs.shape[0])]
            labels += ["input"] + list(self.style_names)
        return image_lib.contact_sheet(tiles, ncols=1 + len(self.style_names), labels=labels)

    def meta(self) -> dict:
        return {
            "method": self.name,
            "styles": list(self.style_names),
            "trainable_styles": list(self.trainable_styles),
            "train_net": self.train_net,
            "train_config": jsonable(dataclasses.asdict(self.cfg)),
            "vgg": perceptual.vgg_meta(self.vgg),
        }
