"""The arbitrary-style model behind the rendering interface (`styljax.render.Renderer`): styles are
100-d vectors, either stored (`styljax add-style --method arbitrary`) or predicted from painting
files named in the style spec (`prepare_styles`), each painting once per renderer."""

from __future__ import annotations

import math
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from styljax.errors import StyljaxError
from styljax.nets import arbitrary as ar
from styljax.stores import arbitrary_store
from styljax.nets.strength import MODE_STYLE_VECTOR
from styljax.render import StyleStoreRenderer


class ArbitraryRenderer(StyleStoreRenderer):
    """Magenta's arbitrary-style model (`styljax.stores.arbitrary_store` directory)."""

    kmeans_regions = False  # regions come from a mask
    strength_mode = MODE_STYLE_VECTOR  # s·v + (1 − s)·P(photo)

    def __init__(self, path: Path, method: str | None = None):
        self.method = "arbitrary"
        self.store = arbitrary_store.STORE
        self.params, self.cfg, self.manifest = arbitrary_store.STORE.load_model(path)
        self._paintings: dict[str, str] = {}  # resolved painting path -> its style's name here

    # ------------------------------------------------------------------------- paintings
    def painting_vector(self, path: str | Path, **load_kw) -> np.ndarray:
        """The style vector (D,) of a painting file (one line and exit 2 for a bad one: not an
        image, too small, too many pixels; `load_kw` as `styljax.io.image.load_image`'s)."""
        from styljax.io import image

        kw = {"min_side": image.MIN_SIDE, **load_kw}
        return np.asarray(self.painting_style(image.load_image(path, **kw))["vector"])

    def painting_style(self, painting) -> dict:
        """A painting's style params {"vector": (D,)} from its pixels (H, W, 3) in [0, 1]: the
        central square resized to `painting_side` (`styljax.nets.arbitrary.style_input`), then the
        predictor; one compiled program per painting size, so `painting_side`² compiles once."""
        predictor = {"predictor": self.params["predictor"]}  # not the styles: adding one recompiles nothing
        return {"vector": ar.predict_style(predictor, jnp.asarray(painting, jnp.float32)[None], self.cfg)[0]}

    @property
    def painting_side(self) -> int:
        """The side of the predictor's square input."""
        return self.cfg.style_size

    def prepare_styles(self, text: str, load_kw: dict | None = None, what: str = "--style") -> str:
        """The spec `text` with every painting file it names (`a.jpg`, `a.jpg:0.7,b.jpg:0.3`, `a,b`
        with a mask) made a style of this renderer, named by its file stem (made unique): each
        file's vector is predicted once per renderer. Stored style names pass as they are."""
        items = []
        for item in (t.strip() for t in text.split(",") if t.strip()):
            name, colon, weight = item.partition(":")
            try:  # checked here too, so that a bad weight fails before any painting is read
                ok = not weight or math.isfinite(float(weight))
            except ValueError:
                ok = False
            if not ok:
                raise StyljaxError(f"{what}: bad weight in {item!r} (a finite number)")
            if name != "all" and name not in self.params[self.styles_key]:
                name = self._painting_style(name, load_kw or {}, what)
            items.append(f"{name}{colon}{weight}")
        return ",".join(items)

    def _painting_style(self, name: str, load_kw: dict, what: str) -> str:
        path = Path(name)
        if not path.is_file():
            stored = ", ".join(self.styles) or "none"
            raise StyljaxError(f"{what}: {name!r} is neither an image file nor a stored style (stored: {stored})")
        key = str(path.resolve())
        if key in self._paintings:
            return self._paintings[key]
        vector = self.painting_vector(path, **load_kw)
        styles = self.params[self.styles_key]
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem) or "painting"
        style, n = stem, 1
        while style in styles:
            n += 1
            style = f"{stem}-{n}"
        self.params = {**self.params, self.styles_key: {**styles, style: {"vector": jnp.asarray(vector)}}}
        self._paintings[key] = style
        return style

    # ------------------------------------------------------------------ the model's own pieces
    def _body(self) -> dict:
        return {k: v for k, v in self.params.items() if k != self.styles_key}

    def fuse(self, styles: dict, weights: dict) -> dict:
        names = list(weights)
        return {"vector": ar.mix(jnp.stack([styles[n]["vector"] for n in names]), [weights[n] for n in names])}

    def stylize_with(self, x, style: dict, strength=None) -> jax.Array:
        return ar.stylize(self._body(), x, style["vector"], self.cfg, strength=strength)

    def stylize_all(self, x, names: tuple, strength=None) -> jax.Array:
        styles = self.params[self.styles_key]
        return jnp.stack([self.stylize_with(x, styles[n], strength) for n in names])

    def per_image_with(self, body, neutral, x, styles: dict, masks, strength) -> jax.Array:
        """Vectors (B, R, D) mixed per pixel by the masks (B, R, H, W) in every norm."""
        return ar.stylize(body, x, styles["vector"], self.cfg, masks=jnp.asarray(masks), strength=strength)

    def regions(self, x, names: tuple, masks=None, k=None, strength=None) -> jax.Array:
        """A style vector per region: γ/β mixed per pixel by the masks (B, R, H, W)."""
        if masks is None:
            raise StyljaxError("arbitrary: regions need a --mask (no encoder features to cluster)")
        styles = self.params[self.styles_key]
        vectors = jnp.stack([styles[n]["vector"] for n in names])
        return ar.stylize(self._body(), x, vectors, self.cfg, masks=jnp.asarray(masks), strength=strength)
