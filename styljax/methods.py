"""The registry of methods: one entry per method, naming the library pieces it is made of.

An entry says what a method is (its kind, title, help line) and where its pieces live in the
library: its `Renderer` (feed-forward models), its `StyleStore` (the model on disk), its training
`Task`, how its models export. Programs look methods up here (`get`, `named`, `for_model`) instead
of testing method names themselves, and attach what they run themselves: `infer/stylize.py` its
optimisation runners, `train/configs.py` the experiments of every method with a task.

    stylize --method M     get(M, "stylize")   -> M.open_renderer(path), or the program's runner for M
    serve, styles          for_model(path)     -> the method from the model's manifest
    train CONFIG           get(cfg.method, "train") -> M.task_class()
    export --method M      get(M, "export")    -> M.load_exporter()(renderer, spec, names) (`styljax.io.export`)

The entries are plain strings, so importing this module (and building `--help` from it) imports
no JAX; the heavy pieces are `"module:attribute"` references into `styljax`, imported when used,
the way big_vision picks a model module by name. Nothing here names a program.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from pathlib import Path
from typing import Any

from styljax.errors import StyljaxError

KINDS = ("optimisation", "feedforward", "video")
CAPABILITIES = ("stylize", "renderer", "store", "train", "export")


@dataclasses.dataclass(frozen=True)
class Method:
    """One method and where its pieces live (`"module:attribute"` strings, imported on use).

    Attributes:
      name: what `--method`, the configs and the manifests call it.
      title: the method in messages ("StyleBank").
      help: one line for `--method`'s help and `styljax train`'s list.
      kind: "optimisation" (one image optimised against style images), "feedforward" (a trained
        multi-style model behind a `Renderer`) or "video" (Net₁ on a StyleBank model).
      renderer: the `styljax.render.Renderer` class; called as `cls(path, method_name)`.
      store: the `styljax.stores.style_store.StyleStore` of its models.
      model_format: the manifest "format" of its models (several methods may share one: the
        manifest's "method" then tells them apart).
      default_model: its folder in the shipped checkpoints (`styljax.io.checkpoints`).
      default_model_cache: its default model is fetched into the weights cache (`styljax.io.magenta`),
        not shipped in checkpoints/.
      task: the training task class (`styljax.training.Task`); a method with one trains.
      single_style: one network per style (Johnson, texture networks): trained on one style image.
      export_min_side: the smallest height and width its exported programs take (`styljax export`:
        sizes are symbolic from there up); None: it does not export.
      exporter: `exporter(renderer, spec, names) -> [styljax.io.export.Program]`: what `styljax
        export` writes for a model of it (default: through its `Renderer`, one artefact; a method
        with a second network, e.g. a style predictor, returns a second program).
    """

    name: str
    title: str
    help: str
    kind: str
    renderer: str | None = None
    store: str | None = None
    model_format: str | None = None
    default_model: str | None = None
    default_model_cache: bool = False
    task: str | None = None
    single_style: bool = False
    export_min_side: int | None = None
    exporter: str = "styljax.io.export:renderer_programs"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        for ref in (self.renderer, self.store, self.task, self.exporter):
            if ref is not None and not ref.startswith("styljax."):
                raise ValueError(f"{self.name}: {ref!r} is not a library piece")

    def has(self, capability: str) -> bool:
        """Whether this method has `capability` (one of `CAPABILITIES`)."""
        if capability == "stylize":
            return self.kind == "optimisation" or self.renderer is not None
        if capability == "train":
            return self.task is not None
        if capability == "export":
            return self.export_min_side is not None and self.renderer is not None
        return getattr(self, capability) is not None

    # ----------------------------------------------------------------------- the heavy pieces
    def _load(self, field: str) -> Any:
        ref = getattr(self, field)
        if ref is None:
            raise StyljaxError(f"{self.name} has no {field.replace('_', ' ')}")
        module, _, attr = ref.partition(":")
        return getattr(importlib.import_module(module), attr)

    def load_exporter(self):
        """Its `exporter` function (`styljax.io.export`)."""
        return self._load("exporter")

    def default_model_path(self) -> Path:
        """Its shipped model (`styljax.io.checkpoints`), or its fetched one (`styljax.io.magenta`)."""
        from styljax.io import checkpoints

        if self.default_model is None:
            raise StyljaxError(f"{self.name} ships no model")
        if self.default_model_cache:
            from styljax.io import magenta

            return magenta.model_dir(self.default_model)
        return checkpoints.model_dir(self.default_model)

    def open_renderer(self, path: str | Path | None = None):
        """The `Renderer` of the model at `path` (default: the shipped one), checked to be this method's.

        Args:
          path: a model directory (or a fetched model's name, `styljax.io.magenta.MODELS`), or None for
        `default_model_path()`.

        Returns:
          A `styljax.render.Renderer`.
        """
        from styljax.io import magenta

        if path is None:
            path = self.default_model_path()
            if not self.default_model_cache and not (path / "manifest.json").is_file():
                raise StyljaxError(f"{path}: no shipped {self.name} model; train one (`styljax train {self.name} "
                                   f"--help`) and give it with --model")
        else:
            path = magenta.resolve_model(path)
        return self._load("renderer")(path, self.name)

    def open_store(self):
        """Its `StyleStore` (the on-disk layout of its models)."""
        return self._load("store")

    def task_class(self) -> type:
        """Its training task class."""
        return self._load("task")



# What CIN and Johnson share: the transform net's renderer, store, format and training task, and
# the smallest side its exported programs take (the 9x9 convs' reflect pads need 5 px, the 3x3 ones
# at 1/4 scale 2 px; 8 keeps both, as for StyleBank's encoder of the same strides).
_TRANSFORM_NET = dict(
    renderer="styljax.renderers.transform_renderer:TransformRenderer",
    store="styljax.stores.transform_store:STORE", model_format="styljax-transform/1",
    task="styljax.tasks.transform:TransformTask", export_min_side=8,
)

REGISTRY: tuple[Method, ...] = (
    Method(
        name="gatys", title="Gatys", kind="optimisation",
        help="the default: one image optimised against style image files, Gatys et al.",
    ),
    Method(
        name="stylebank", title="StyleBank", kind="feedforward",
        help="StyleBank: an auto-encoder and one filter bank per named style",
        renderer="styljax.renderers.stylebank_renderer:StyleBankRenderer",
        store="styljax.stores.stylebank_store:STORE", model_format="styljax-stylebank/1",
        default_model="stylebank", task="styljax.tasks.stylebank:StyleBankTask", export_min_side=8,
    ),
    Method(
        name="cin", title="CIN", kind="feedforward",
        help="conditional instance norm: one transform net, γ/β per named style",
        **_TRANSFORM_NET, default_model="cin",
    ),
    Method(
        name="johnson", title="Johnson", kind="feedforward",
        help="Johnson et al.: one transform net per style",
        **_TRANSFORM_NET, default_model="johnson", single_style=True,
    ),
    Method(
        name="texture-net", title="texture network", kind="feedforward",
        help="Ulyanov et al.'s texture networks: a multi-scale generator with instance norm, one per style",
        renderer="styljax.renderers.transform_renderer:TransformRenderer",
        store="styljax.stores.texture_store:STORE", model_format="styljax-texture-net/1",
        default_model="texture-net", task="styljax.tasks.transform:TransformTask", single_style=True,
        export_min_side=16,
    ),
    Method(
        name="arbitrary", title="arbitrary style", kind="feedforward",
        help="any painting file as the style, no training: Magenta's arbitrary-style net (Ghiasi et al.) "
             "on its published weights (`styljax weights fetch`)",
        renderer="styljax.renderers.arbitrary_renderer:ArbitraryRenderer",
        store="styljax.stores.arbitrary_store:STORE", model_format="styljax-arbitrary/1",
        default_model="magenta-arbitrary", default_model_cache=True, export_min_side=8,
        exporter="styljax.io.export:arbitrary_programs",  # the predictor as a second artefact
    ),
    Method(
        name="photo", title="Deep Photo Style Transfer", kind="optimisation",
        help="Deep Photo Style Transfer: photorealistic optimisation with the matting Laplacian",
    ),
    Method(
        name="video", title="video", kind="video",
        help="coherent online video: Net1, flow and mask nets, on a frozen StyleBank model",
        model_format="styljax-video-net1/1", default_model="video", task="styljax.tasks.coherent:VideoTask",
    ),
)

_BY_NAME = {m.name: m for m in REGISTRY}
assert len(_BY_NAME) == len(REGISTRY), "method names must be unique"


def named(capability: str | None = None) -> tuple[str, ...]:
    """The methods' names, in registry order; only those with `capability` if given."""
    if capability is not None and capability not in CAPABILITIES:
        raise ValueError(f"capability must be one of {CAPABILITIES}, got {capability!r}")
    return tuple(m.name for m in REGISTRY if capability is None or m.has(capability))


def get(name: str, capability: str | None = None, flag: str = "--method") -> Method:
    """The method `name`, which must have `capability` if given; otherwise a one-line error
    naming `flag`, the methods that would do and the nearest name.

    Args:
      name: the method's name.
      capability: one of `CAPABILITIES`, or None for any method.
      flag: the option or field the name came from, for the message.

    Returns:
      Its `Method`.
    """
    allowed = named(capability)
    if name not in allowed:
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f" (did you mean {close[0]}?)" if close and close[0] != name else ""
        raise StyljaxError(f"{flag}: expected one of {', '.join(allowed)}, got {name!r}{hint}")
    return _BY_NAME[name]


def for_manifest(manifest: dict, path: str | Path = "model") -> Method:
    """The method of a model from its manifest: by "format", then by "method" where several
    methods share a format (CIN and Johnson; a manifest without "method" is the first's)."""
    fmt = manifest.get("format")
    candidates = [m for m in REGISTRY if m.model_format is not None and m.model_format == fmt]
    if not candidates:
        raise StyljaxError(f"{path}: unknown model format {fmt!r}")
    return next((m for m in candidates if m.name == manifest.get("method")), candidates[0])


def for_model(path: str | Path) -> Method:
    """The method of the model directory `path` (its manifest.json)."""
    from styljax.io.manifest import read_manifest

    return for_manifest(read_manifest(path), path)


def store_for_model(path: str | Path):
    """The `StyleStore` of the model at `path`, from its manifest's method."""
    method = for_model(path)
    if method.store is None:
        raise StyljaxError(f"{path}: a {method.name} model has no named styles")
    return method.open_store()


def open_renderer(path: str | Path):
    """The `Renderer` of the model at `path`, whatever its method (from its manifest).

    Args:
      path: a model directory.

    Returns:
      A `styljax.render.Renderer`; a one-line error if the model's method has none.
    """
    method = for_model(path)
    if method.renderer is None:
        raise StyljaxError(f"{path}: a {method.name} model renders no images by itself")
    return method._load("renderer")(Path(path), None)
