"""A transform-family net (CIN, Johnson, texture networks) behind the rendering interface
(`styljax.render.Renderer`)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp

from styljax import methods
from styljax.errors import StyljaxError
from styljax.nets import transform as tr
from styljax.render import StyleStoreRenderer


class TransformRenderer(StyleStoreRenderer):
    """A transform-family model (its method's store: `styljax.stores.transform_store` layout): the net
    and each style's γ/β."""

    kmeans_regions = False  # no encoder features to cluster: regions come from a mask

    def __init__(self, path: Path, method: str | None = None):
        """Load the model at `path`; if `method` ("cin", "johnson", ...) is given, the manifest must say so."""
        own = methods.for_model(path)  # the manifest's method picks the store (and its config class)
        if method is not None and own.name != method:
            raise StyljaxError(f"{path}: a {own.name} model, not {method} (use --method {own.name})")
        self.store = own.open_store()
        self.params, self.cfg, self.manifest = self.store.load_model(path)
        self.method = own.name

    @property
    def strength_mode(self) -> str:
        """"gamma-beta" toward the reserved `identity` style if the model has one, else "pixel"."""
        return tr.strength_mode(self.params[self.styles_key])  # reserved styles included

    def fuse(self, styles: dict, weights: dict) -> dict:
        return tr.mix_styles(styles, weights)  # γ/β interpolation

    def _strength(self, strength) -> dict:
        neutral = None if strength is None else tr.neutral_style(self.params)
        return {"strength": strength, "neutral": neutral}

    def stylize_with(self, x, style: dict, strength=None) -> jax.Array:
        return tr.stylize_with(self.params, x, style, self.cfg, clip=True, **self._strength(strength))

    def stylize_all(self, x, names: tuple, strength=None) -> jax.Array:
        return tr.render_all(self.params, x, self.cfg, tuple(names), clip=True, strength=strength)

    def per_image_with(self, body, neutral, x, styles: dict, masks, strength) -> jax.Array:
        """γ/β (B, R, C) mixed per pixel by the masks (B, R, H, W) in every norm."""
        return tr.stylize_with(body, x, styles, self.cfg, masks=masks, clip=True, strength=strength, neutral=neutral)

    def serving_args(self) -> tuple:
        body, _ = super().serving_args()
        return body, tr.neutral_style(self.params)

    def regions(self, x, names: tuple, masks=None, k=None, strength=None) -> jax.Array:
        """γ/β mixed per pixel by the masks (B, R, H, W): γ(p) = Σ_r m_r(p) γ_r."""
        stacked = tr.stack_styles(self.params["styles"], names)
        return tr.stylize_with(self.params, x, stacked, self.cfg, masks=jnp.asarray(masks), clip=True,
                               **self._strength(strength))
