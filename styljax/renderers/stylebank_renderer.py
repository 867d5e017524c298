"""A StyleBank model behind the rendering interface (`styljax.render.Renderer`)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp

from styljax.nets import stylebank as sb
from styljax.stores import stylebank_store
from styljax.nets.strength import remap
from styljax.render import StyleStoreRenderer


class StyleBankRenderer(StyleStoreRenderer):
    """A StyleBank model (`styljax.stores.stylebank_store` directory): the auto-encoder and its banks."""

    kmeans_regions = True  # K-means of the encoder features (paper)
    strength_mode = "features"  # D(s·(K ⊗ F) + (1 − s)·F): s = 0 is the auto-encoder path

    def __init__(self, path: Path, method: str | None = None):
        """Load the model at `path`. `method` is the registry's name ("stylebank"), or None when
        the method was read from the manifest (the store checks the format either way)."""
        self.method = "stylebank"
        self.store = stylebank_store.STORE
        self.params, self.cfg, self.manifest = stylebank_store.load_model(path)
        # the control's measured evening-out (`strength.even_knots`), when the model has one
        knots = self.manifest.get("strength_knots")
        self.knots = (tuple(knots["control"]), tuple(knots["model"])) if knots else None

    def fuse(self, styles: dict, weights: dict) -> dict:
        return sb.fuse_linear(styles, weights)  # the banks' weighted sum, applied once

    def stylize_with(self, x, style: dict, strength=None) -> jax.Array:
        return sb.stylize_bank(self.params, x, style, self.cfg, clip=True, strength=remap(strength, self.knots))

    def stylize_all(self, x, names: tuple, strength=None) -> jax.Array:
        return sb.render_all(self.params, x, self.cfg, tuple(names), clip=True, strength=remap(strength, self.knots))

    def per_image_with(self, body, neutral, x, styles: dict, masks, strength) -> jax.Array:
        return sb.stylize_per_image(body, x, styles, masks, self.cfg, clip=True, strength=remap(strength, self.knots))

    def regions(self, x, names: tuple, masks=None, k: int | None = None, strength=None) -> jax.Array:
        """Paper's region fusion; masks (B, R, H, W) at image resolution, or K-means regions."""
        masks = None if masks is None else jnp.asarray(masks)
        return sb.stylize_regions(self.params, x, names, self.cfg, masks, k, clip=True,
                                  strength=remap(strength, self.knots))
