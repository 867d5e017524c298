"""CIN and Johnson inference (`styljax stylize --method cin|johnson`), on the feed-forward runner.

Style spec as for StyleBank: `NAME`, `all`, `a:0.5,b:0.5` (γ/β interpolation, weights normalised),
or with `--mask FILE` one style per region (`a,b`; γ/β mixed per pixel by the mask's grey levels).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp

from infer.stylebank import Renderer
from styljax.errors import StyljaxError



class TransformRenderer(Renderer):
    """A CIN or Johnson model behind the runner's interface (see `infer.stylebank.StyleBankRenderer`)."""

    kmeans_regions = False  # no encoder features to cluster: regions come from --mask

    def __init__(self, path: Path, method: str | None = None):
        from styljax.models import transform as tr
        from styljax.models import transform_store

        self.lib = tr  # the model's functions: lib.stylize(params, x, style, cfg, clip)
        self.store = transform_store.STORE
        self.params, self.cfg, self.manifest = transform_store.load_model(path)
        if method is not None and self.manifest.get("method") != method:
            raise StyljaxError(f"{path}: a {self.manifest.get('method')} model, not {method} (use --method "
                               f"{self.manifest.get('method')})")
        self.method = self.manifest.get("method", "cin")

    @property
    def strength_mode(self) -> str:
        """"gamma-beta" toward the reserved `identity` style if the model has one, else "pixel"."""
        return self.lib.strength_mode(self.styles)

    def fuse(self, styles: dict, weights: dict) -> dict:
        return self.lib.mix_styles(styles, weights)  # γ/β interpolation

    def _strength(self, strength) -> dict:
        neutral = None if strength is None else self.lib.neutral_style(self.params)
        return {"strength": strength, "neutral": neutral}

    def stylize_with(self, x, style: dict, strength=None) -> jax.Array:
        return self.lib.stylize_with(self.params, x, style, self.cfg, clip=True, **self._strength(strength))

    def per_image_with(self, body, neutral, x, styles: dict, masks, strength) -> jax.Array:
        """γ/β (B, R, C) mixed per pixel by the masks (B, R, H, W) in every norm."""
        return self.lib.stylize_with(body, x, styles, self.cfg, masks=masks, clip=True, strength=strength,
                                     neutral=neutral)

    @property
    def reserved_styles(self) -> tuple:
        return (self.lib.IDENTITY_STYLE,)  # adding or removing it switches the strength mode

    def serving_args(self) -> tuple:
        body, _ = super().serving_args()
        return body, self.lib.neutral_style(self.params)

    def regions(self, x, names: tuple, masks, k=None, strength=None) -> jax.Array:
        """γ/β mixed per pixel by the masks (B, R, H, W): γ(p) = Σ_r m_r(p) γ_r."""
        stacked = self.lib.stack_styles(self.params["styles"], names)
        return self.lib.stylize_with(self.params, x, stacked, self.cfg, masks=jnp.asarray(masks), clip=True,
                                     **self._strength(strength))
