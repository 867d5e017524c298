"""The rendering interface of the feed-forward models: what `styljax stylize` and `styljax serve`
ask of a trained multi-style model, and how they say which styles to render.

- `StyleSpec`: one style, a linear mix, every style, or one style per region (K-means regions or a
  grey-level mask), with a strength and colour preservation; `StyleSpec.parse` reads the command
  line's form (`wave`, `wave:0.5,the-scream:0.5`, `all`, `a,b` with regions).
- `Renderer`: the protocol the CLI's runner and the service's batcher use.
- `StyleStoreRenderer`: its shared implementation for models stored as a `StyleStore` (StyleBank:
  `styljax.renderers.stylebank_renderer`; CIN and Johnson: `styljax.renderers.transform_renderer`); a
  subclass loads the model and gives the model's own pieces (`fuse`, `stylize_with`,
  `stylize_all`, `per_image_with`, `regions`, `strength_mode`).

Region fusion is F̃ = Σ_r K_r ⊗ (M_r × F) for StyleBank (per-pixel γ/β mixing for CIN); regions
come from K-means of the encoder features (the paper) or from a mask's grey levels (darkest first).
"""

from __future__ import annotations

import abc
import dataclasses
import math
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from styljax.errors import StyljaxError

MAX_FUSION_WEIGHT = 1e3  # |weight|, raw and normalised: beyond it float32 params overflow or cancel


@dataclasses.dataclass(frozen=True)
class StyleSpec:
    """Which styles to render, and how.

    Attributes:
      names: the styles: one, the mix's, every style of the model (`every`), or one per region.
      weights: a linear mix's weights, one per name (normalised where the mix is made); None for
        one style.
      every: render each of `names` (the model's styles), one output per style.
      regions: K regions from K-means of the encoder features, one style each (StyleBank).
      mask: a mask image whose grey levels split it into one region per style (darkest = first).
      strength: style strength in [0, 1]; None is full strength, computed as before strength existed.
      preserve_colors: keep the photo's chrominance (`keep_colors`).
    """

    names: tuple[str, ...]
    weights: tuple[float, ...] | None = None
    every: bool = False
    regions: int | None = None
    mask: str | None = None
    strength: float | None = None
    preserve_colors: bool = False

    def __post_init__(self):
        object.__setattr__(self, "names", tuple(self.names))
        if self.weights is not None:
            object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))
            if len(self.weights) != len(self.names):
                raise ValueError(f"{len(self.weights)} weights for {len(self.names)} styles")
        if not self.names:
            raise ValueError("a style spec names at least one style")
        if self.every and self.regional:
            raise ValueError("every style or one style per region, not both")

    @property
    def regional(self) -> bool:
        """One style per region (K-means `regions` or a `mask`)."""
        return self.regions is not None or self.mask is not None

    @property
    def mode(self) -> str:
        """"single", "fusion" (a linear mix), "all" (`every`) or "regions"."""
        if self.regional:
            return "regions"
        if self.every:
            return "all"
        return "fusion" if len(self.names) > 1 else "single"

    @property
    def tags(self) -> tuple[str, ...]:
        """The outputs' tags: each style's name (one style, `every`), else "fusion" or "regions"."""
        return self.names if self.mode in ("single", "all") else (self.mode,)

    @property
    def weight_map(self) -> dict[str, float]:
        """{name: weight} of a mix (1 each when no weights were given)."""
        return dict(zip(self.names, self.weights or (1.0,) * len(self.names)))

    def one(self, name: str) -> StyleSpec:
        """This spec for the single style `name` (strength and colours kept)."""
        return dataclasses.replace(self, names=(name,), weights=None, every=False, regions=None, mask=None)

    @classmethod
    def parse(cls, text: str, known: list[str] | tuple[str, ...], *, what: str = "--style",
              strength: float | None = None, preserve_colors: bool = False, regions: int | None = None,
              mask: str | None = None) -> StyleSpec:
        """A spec from its text form: `all`, `NAME`, a mix `a:0.7,b:0.3` (or `a,b`, equal weights),
        or with `regions`/`mask` one style per region (`a,b`).

        Args:
          text: the spec.
          known: the model's styles (checked; `all` means these).
          what: the option or form field it came from, first in every error message.
          strength, preserve_colors, regions, mask: as the attributes.

        Returns:
          The `StyleSpec`; a one-line `StyljaxError` for unknown styles, bad or cancelling weights,
          `all` with regions, or a region count that is not the number of styles.
        """
        regional = regions is not None or mask is not None
        if text == "all":
            if not known:
                raise StyljaxError(f"{what}: 'all' but the model has no stored styles")
            if regional:
                raise StyljaxError("--regions/--mask need one style per region, e.g. --style a,b")
            return cls(tuple(known), every=True, strength=strength, preserve_colors=preserve_colors)
        names, weights = [], []
        for item in (t.strip() for t in text.split(",") if t.strip()):
            name, _, w = item.partition(":")
            names.append(name)
            try:
                weights.append(float(w) if w else 1.0)
            except ValueError:
                raise StyljaxError(f"{what}: bad weight in {item!r}") from None
            if not math.isfinite(weights[-1]) or abs(weights[-1]) > MAX_FUSION_WEIGHT:
                raise StyljaxError(f"{what}: weight in {item!r} must be a finite number of at most "
                                   f"{MAX_FUSION_WEIGHT:g} in magnitude")
        unknown = [n for n in names if n not in known]
        if unknown:
            raise StyljaxError(f"{what}: unknown styles: {', '.join(unknown)}; this model has: {', '.join(known)}")
        if not names:
            raise StyljaxError(f"{what}: empty")
        if len(names) > 1:
            if sum(weights) <= 0:
                raise StyljaxError(f"{what}: fusion weights must sum to > 0, got {text!r}")
            if max(abs(w) for w in weights) > MAX_FUSION_WEIGHT * sum(weights):
                raise StyljaxError(f"{what}: fusion weights nearly cancel out (a normalised weight over "
                                   f"{MAX_FUSION_WEIGHT:g}), got {text!r}")
        if regions is not None and regions != len(names):
            raise StyljaxError(f"--regions {regions} needs {regions} styles in --style, got {len(names)}")
        return cls(tuple(names), tuple(weights) if len(names) > 1 else None, regions=regions, mask=mask,
                   strength=strength, preserve_colors=preserve_colors)


@runtime_checkable
class Renderer(Protocol):
    """A trained multi-style model, as the CLI's runner and the HTTP service use it. Every image
    argument is (B, H, W, 3) float in [0, 1]; every result is clipped to [0, 1]."""

    method: str  # its registry name (`styljax.methods`)
    params: dict  # the whole model: the body and {style: params} under `styles_key`
    manifest: dict  # its manifest.json
    kmeans_regions: bool  # whether `render_regions` can make K-means regions (encoder features)

    @property
    def styles(self) -> list[str]:
        """Its styles' names, sorted: the ones a user picks (never a reserved one)."""

    @property
    def styles_key(self) -> str:
        """The key of `params` holding {style: params}."""

    @property
    def strength_mode(self) -> str:
        """How strength acts: "features", "gamma-beta" or "pixel" (`styljax.nets.strength`)."""

    @property
    def reserved_styles(self) -> tuple[str, ...]:
        """Styles that change how the model renders (CIN/Johnson's `identity`): kept out of
        `styles` (so out of `all`, the lists and the service), never added or removed while serving."""

    def prepare_styles(self, text: str, load_kw: dict | None = None, what: str = "--style") -> str:
        """Make the styles the spec `text` names available before it is parsed, and return the
        spec to parse (a model whose styles are given as image files computes their params here,
        once, and names them)."""

    def style_params(self, spec: StyleSpec) -> Any:
        """One style's params, or a mix's (made once, reused for every batch)."""

    def render(self, x: jax.Array, spec: StyleSpec, style_params: Any = None, masks: Any = None) -> dict[str, jax.Array]:
        """{tag: (B, H, W, 3)} for `spec` (`StyleSpec.tags`)."""

    def render_regions(self, x: jax.Array, names: tuple[str, ...], masks: Any = None, k: int | None = None,
                       strength: Any = None, preserve_colors: Any = False) -> jax.Array:
        """One style per region: masks (B, R, H, W), or K-means regions (`kmeans_regions`)."""

    def render_per_image(self, x: jax.Array, styles: Any, masks: Any, strength: Any = None,
                         preserve_colors: Any = None) -> jax.Array:
        """Each image its own regions' styles (stacked (B, R, ...)), masks, strength and colour flag."""

    def serving_args(self) -> tuple:
        """(the params without the styles, the neutral style or None): `serve_batch`'s fixed arguments."""

    def serve_batch(self, body: Any, neutral: Any, x: jax.Array, styles: Any, masks: jax.Array,
                    strength: jax.Array, keep: jax.Array) -> jax.Array:
        """`render_per_image` as one jit-able function of arrays (`serving_args` first)."""

    def add_style(self, tree: dict, meta: dict, name: str | None = None, what: str = "upload") -> str:
        """Add an exported style in memory; returns its name."""

    def remove_style(self, name: str) -> None:
        """Drop a style from memory."""


class StyleStoreRenderer(abc.ABC):
    """`Renderer` for a model stored as a `StyleStore`. A subclass's `__init__(path, method)` loads
    `params`, `cfg`, `manifest` and sets `store`; it gives the model's own pieces below."""

    method: str
    store: Any  # its `styljax.stores.style_store.StyleStore`
    params: dict
    cfg: Any  # the architecture config of its model module
    manifest: dict
    kmeans_regions: bool = False

    @property
    def styles_key(self) -> str:
        return self.store.styles_key

    @property
    def reserved_styles(self) -> tuple[str, ...]:
        return self.store.reserved

    @property
    def styles(self) -> list[str]:
        return self.store.public(self.params[self.styles_key])

    def prepare_styles(self, text: str, load_kw: dict | None = None, what: str = "--style") -> str:
        """`text` as it is: the styles are the stored ones (the arbitrary-style model overrides
        this to predict the style vectors of painting files named in `text`)."""
        return text

    def add_style(self, tree: dict, meta: dict, name: str | None = None, what: str = "upload") -> str:
        """Add an exported style (a `styljax styles export` file's tree and meta) in memory; the
        same checks as `styljax styles import`. Returns its name."""
        name = self.store.check_style(meta, self.manifest, what, f"the {self.method} model", name)
        style = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), tree)
        first = next(iter(self.params[self.styles_key].values()), None)  # None: no style stored yet (arbitrary)
        if first is not None and jax.tree.structure(style) != jax.tree.structure(first):
            raise StyljaxError(f"{what}: style params do not match the {self.method} model")
        self.params = {**self.params, self.styles_key: {**self.params[self.styles_key], name: style}}
        return name

    def remove_style(self, name: str) -> None:
        """Drop a style from memory (the files on disk stay)."""
        if name not in self.params[self.styles_key]:
            raise StyljaxError(f"the {self.method} model has no style {name!r}")
        self.params = {**self.params, self.styles_key: {k: v for k, v in self.params[self.styles_key].items() if k != name}}

    def style_params(self, spec: StyleSpec) -> Any:
        """One style's params, or a mix's weighted params (computed once, reused for every batch)."""
        if spec.every or spec.regional:
            raise ValueError(f"style_params: one style or a linear mix, not {spec.mode}")
        styles = self.params[self.styles_key]
        if spec.mode == "fusion":
            return self.fuse(styles, spec.weight_map)
        return styles[spec.names[0]]

    def render(self, x, spec: StyleSpec, style_params: Any = None, masks: Any = None) -> dict:
        """{tag: (B, H, W, 3)} for `spec`: every style (one batched call), one style or a mix
        (`style_params`, default `self.style_params(spec)`), or one style per region (`masks`
        (B, R, H, W), default from `spec.mask`, else K-means); then `spec.strength` in the model's
        own mode and `spec.preserve_colors`."""
        if spec.regional:
            if masks is None and spec.mask is not None:
                one = mask_regions(spec.mask, len(spec.names), tuple(x.shape[1:3]))
                masks = np.stack([one] * x.shape[0])
            out = self.render_regions(x, spec.names, masks, spec.regions, spec.strength, spec.preserve_colors)
            return {"regions": out}
        if spec.every:
            outs = self.stylize_all(x, spec.names, spec.strength)
            results = {t: outs[k] for k, t in enumerate(spec.names)}
        else:
            params = self.style_params(spec) if style_params is None else style_params
            results = {spec.tags[0]: self.stylize_with(x, params, spec.strength)}
        return {t: keep_colors(x, o, spec.preserve_colors) for t, o in results.items()}

    def render_regions(self, x, names: tuple, masks=None, k: int | None = None, strength=None,
                       preserve_colors=False) -> jax.Array:
        """Region fusion, one style per region: masks (B, R, H, W) at image resolution (or, where
        the model has encoder features, K-means regions); `strength`, `preserve_colors` as `render`."""
        return keep_colors(x, self.regions(x, names, masks, k, strength), preserve_colors)

    def render_per_image(self, x, styles, masks, strength=None, preserve_colors=None) -> jax.Array:
        """x (B, H, W, 3), `styles` stacked (B, R, ...) (each image its own R regions' style
        params, from `style_params`), masks (B, R, H, W), `strength` (B,) and `preserve_colors`
        (B,) flags per image → clipped (B, H, W, 3). Compiled once, whatever the values."""
        return keep_colors(x, self.per_image(x, styles, masks, strength), preserve_colors)

    # the HTTP service's one program per (size, batch, regions): a pure function of its arguments
    def serving_args(self) -> tuple:
        """What `serve_batch` reads besides the batch: (the params without the styles, the neutral
        style or None). Fixed while serving, so adding a style never changes a compiled program."""
        return {k: v for k, v in self.params.items() if k != self.styles_key}, None

    def serve_batch(self, body, neutral, x, styles, masks, strength, keep) -> jax.Array:
        """`render_per_image` as one jit-able function of arrays only (`serving_args` first): x (B, H,
        W, 3), styles stacked (B, R, ...), masks (B, R, H, W), strength (B,), keep (B,) → (B, H, W, 3)."""
        from styljax.imaging import color

        return color.preserve_colors_where(x, self.per_image_with(body, neutral, x, styles, masks, strength), keep)

    def per_image(self, x, styles, masks, strength=None) -> jax.Array:
        """`render_per_image` without the colour step."""
        body, neutral = self.serving_args()
        return self.per_image_with(body, None if strength is None else neutral, x, styles, masks, strength)

    # ------------------------------------------------------------------- the model's own pieces
    @property
    @abc.abstractmethod
    def strength_mode(self) -> str:
        """How `strength` acts on this model: "features", "gamma-beta" or "pixel" (`styljax.nets.strength`)."""

    @abc.abstractmethod
    def fuse(self, styles: dict, weights: dict) -> Any:
        """The params of a weighted mix of `styles` ({name: weight})."""

    @abc.abstractmethod
    def stylize_with(self, x, style: Any, strength=None) -> jax.Array:
        """x (B, H, W, 3) through one style's params at `strength` → clipped (B, H, W, 3)."""

    @abc.abstractmethod
    def stylize_all(self, x, names: tuple, strength=None) -> jax.Array:
        """x through each of the styles `names` → clipped (S, B, H, W, 3)."""

    @abc.abstractmethod
    def per_image_with(self, body, neutral, x, styles, masks, strength) -> jax.Array:
        """`per_image` given `serving_args` (the params without the styles, the neutral style)."""

    @abc.abstractmethod
    def regions(self, x, names: tuple, masks=None, k: int | None = None, strength=None) -> jax.Array:
        """`render_regions` without the colour step."""


def keep_colors(x, out, preserve):
    """Colour preservation (`--preserve-colors`, `preserve_colors=true`): the output's luminance
    with the photo's chrominance (`styljax.imaging.color.preserve_colors`, Gatys' own). `preserve` False/None
    (as is), True (every image) or (B,) flags (each image its own)."""
    from styljax.imaging import color

    if preserve is None or preserve is False:
        return out
    if preserve is True:
        return color.preserve_colors(x, out)
    keep = np.asarray(preserve, bool)
    if not keep.any():
        return out
    return color.preserve_colors_where(x, out, keep)


def mask_regions(path: str | Path, n: int, hw: tuple[int, int]) -> np.ndarray:
    """A mask image -> (n, H, W) one-hot regions by grey level (n equal bins, darkest first)."""
    from styljax.io import image

    grey = image.load_image(path, size=hw).mean(axis=-1)
    idx = np.minimum((grey * n).astype(int), n - 1)
    return np.stack([(idx == r).astype(np.float32) for r in range(n)])
