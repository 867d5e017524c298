"""The registry of methods: one entry per method, and every program looks the method up here.

An entry names the pieces of a method: how `styljax stylize` runs it, its `Renderer` (feed-forward
models), its `StyleStore` (the model on disk), its training `Task`, the function that adds its
`styljax train NAME` parser, and its experiment table in `styljax.train.configs`. Programs ask the
registry (`get`, `named`, `for_model`) instead of testing method names themselves:

    stylize --method M     get(M, "stylize")   -> M.run_stylize(args) or M.open_renderer(path)
    serve, styles          for_model(path)     -> the method from the model's manifest
    train M, add-style     get(M, "train")     -> M.register_trainer(...), M.experiment(name)
    export --method M      get(M, "export")    -> M.load_exporter()(renderer, spec, names) (`styljax.export`)

The entries are plain strings and tuples, so importing this module (and building `--help` from
it) imports no JAX; the heavy pieces are `"module:attribute"` references imported when used, the
way big_vision picks a model module by name.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from pathlib import Path
from typing import Any

from styljax.errors import StyljaxError

KINDS = ("optimisation", "feedforward", "video")
CAPABILITIES = ("stylize", "renderer", "store", "train", "add-style", "export")


@dataclasses.dataclass(frozen=True)
class Method:
    """One method and where its pieces live (`"module:attribute"` strings, imported on use).

    Attributes:
      name: what `--method`, `styljax train NAME` and the manifests call it.
      title: the method in messages ("StyleBank").
      help: one line for `--method`'s help and `styljax train`'s list.
      kind: "optimisation" (one image optimised against style images), "feedforward" (a trained
        multi-style model behind a `Renderer`) or "video" (Net₁ on a StyleBank model).
      stylize: the function running `styljax stylize --method NAME` (optimisation methods; the
        feed-forward ones share the runner over their `renderer`).
      renderer: the `styljax.render.Renderer` class; called as `cls(path, method_name)`.
      store: the `styljax.models.style_store.StyleStore` of its models.
      model_format: the manifest "format" of its models (several methods may share one: the
        manifest's "method" then tells them apart).
      default_model: its folder in the shipped checkpoints (`styljax.checkpoints`).
      task: the training task class (`styljax.training.Task`).
      trainer: `register(subparsers, method)`: adds the `styljax train NAME` parser.
      train_help: one line for that parser.
      configs: the name of its experiment table in `styljax.train.configs`.
      config_names: that table's names, here for `--help` (a test holds them equal).
      default_config: the `--config` used when none is given.
      add_style: whether `styljax add-style` trains a new style into a frozen model of it.
      add_style_fn: `run(args)` for `styljax add-style` when the method predicts a style instead of
        training one (arbitrary style: a painting's vector).
      default_model_cache: its default model is fetched into the weights cache (`styljax.magenta`),
        not shipped in checkpoints/.
      export_min_side: the smallest height and width its exported programs take (`styljax export`:
        sizes are symbolic from there up); None: it does not export.
      exporter: `exporter(renderer, spec, names) -> [styljax.export.Program]`: what `styljax
        export` writes for a model of it (default: through its `Renderer`, one artefact; a method
        with a second network, e.g. a style predictor, returns a second program).
    """

    name: str
    title: str
    help: str
    kind: str
    stylize: str | None = None
    renderer: str | None = None
    store: str | None = None
    model_format: str | None = None
    default_model: str | None = None
    task: str | None = None
    trainer: str | None = None
    train_help: str | None = None
    configs: str | None = None
    config_names: tuple[str, ...] = ()
    default_config: str | None = None
    add_style: bool = False
    add_style_fn: str | None = None
    default_model_cache: bool = False
    export_min_side: int | None = None
    exporter: str = "styljax.export:renderer_programs"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        if (self.trainer is None) != (self.configs is None):
            raise ValueError(f"{self.name}: a trainer needs an experiment table, and the other way round")
        if self.configs is not None and self.default_config not in self.config_names:
            raise ValueError(f"{self.name}: default config {self.default_config!r} is not in {self.config_names}")

    def has(self, capability: str) -> bool:
        """Whether this method has `capability` (one of `CAPABILITIES`)."""
        if capability == "stylize":
            return self.stylize is not None or self.renderer is not None
        if capability == "train":
            return self.trainer is not None
        if capability == "add-style":
            return self.add_style or self.add_style_fn is not None
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

    def run_stylize(self, args) -> int:
        """`styljax stylize --method NAME` for an optimisation method."""
        return self._load("stylize")(args)

    def run_add_style(self, args) -> int:
        """`styljax add-style` for a method that predicts its styles instead of training them (`add_style_fn`)."""
        return self._load("add_style_fn")(args)

    def load_exporter(self):
        """Its `exporter` function (`styljax.export`)."""
        return self._load("exporter")

    def default_model_path(self) -> Path:
        """Its shipped model (`styljax.checkpoints`), or its fetched one (`styljax.magenta`)."""
        from styljax import checkpoints

        if self.default_model is None:
            raise StyljaxError(f"{self.name} ships no model")
        if self.default_model_cache:
            from styljax import magenta

            return magenta.model_dir(self.default_model)
        return checkpoints.model_dir(self.default_model)

    def open_renderer(self, path: str | Path | None = None):
        """The `Renderer` of the model at `path` (default: the shipped one), checked to be this method's.

        Args:
          path: a model directory (or a fetched model's name, `styljax.magenta.MODELS`), or None for
        `default_model_path()`.

        Returns:
          A `styljax.render.Renderer`.
        """
        from styljax import magenta

        path = magenta.resolve_model(path) if path is not None else self.default_model_path()
        return self._load("renderer")(path, self.name)

    def open_store(self):
        """Its `StyleStore` (the on-disk layout of its models)."""
        return self._load("store")

    def task_class(self) -> type:
        """Its training task class."""
        return self._load("task")

    def register_trainer(self, subparsers) -> None:
        """Add `styljax train NAME` to `subparsers` (imports no JAX)."""
        self._load("trainer")(subparsers, self)

    def experiments(self) -> dict:
        """Its experiment table (`styljax.train.configs`; imports the model configs, so JAX)."""
        from styljax.train import configs

        if self.configs is None:
            raise StyljaxError(f"{self.name} has no training experiments")
        return getattr(configs, self.configs)

    def experiment(self, name: str):
        """The experiment `name` of its table; a one-line error naming the known ones."""
        table = self.experiments()
        if name not in table:
            raise StyljaxError(f"--config: unknown {self.title} experiment {name!r}; known: {', '.join(table)}")
        return table[name]


# What CIN and Johnson share: the transform net's renderer, store, format and training task, and
# the smallest side its exported programs take (the 9x9 convs' reflect pads need 5 px, the 3x3 ones
# at 1/4 scale 2 px; 8 keeps both, as for StyleBank's encoder of the same strides).
_TRANSFORM_NET = dict(
    renderer="styljax.models.transform_renderer:TransformRenderer",
    store="styljax.models.transform_store:STORE", model_format="styljax-transform/1",
    task="styljax.tasks.transform:TransformTask", export_min_side=8,
)

REGISTRY: tuple[Method, ...] = (
    Method(
        name="gatys", title="Gatys", kind="optimisation",
        help="the default: one image optimised against style image files, Gatys et al.",
        stylize="styljax.infer.stylize:run_gatys",
    ),
    Method(
        name="stylebank", title="StyleBank", kind="feedforward",
        help="StyleBank: an auto-encoder and one filter bank per named style",
        renderer="styljax.models.stylebank_renderer:StyleBankRenderer",
        store="styljax.models.stylebank_store:STORE", model_format="styljax-stylebank/1",
        default_model="stylebank",
        task="styljax.tasks.stylebank:StyleBankTask",
        trainer="styljax.train.stylebank:register_train",
        train_help="train a StyleBank model (auto-encoder + one bank per style)",
        configs="EXPERIMENTS", config_names=("kodak", "kodak-wiki", "autoencoder", "banks", "kodak-wiki-render", "paper", "add-style", "tiny"),
        default_config="kodak", add_style=True, export_min_side=8,
    ),
    Method(
        name="cin", title="CIN", kind="feedforward",
        help="conditional instance norm: one transform net, γ/β per named style",
        **_TRANSFORM_NET, default_model="cin",
        trainer="styljax.train.transform:register_cin",
        train_help="train a conditional-instance-norm net (one net, γ/β per style)",
        configs="CIN_EXPERIMENTS", config_names=("kodak", "identity", "kodak-wiki-render", "render-soft", "add-style", "tiny"), default_config="kodak",
        add_style=True,
    ),
    Method(
        name="johnson", title="Johnson", kind="feedforward",
        help="Johnson et al.: one transform net per style",
        **_TRANSFORM_NET, default_model="johnson",
        trainer="styljax.train.transform:register_johnson",
        train_help="train a Johnson et al. transform net for one style",
        configs="JOHNSON_EXPERIMENTS", config_names=("kodak", "identity", "kodak-wiki-render", "render-soft", "tiny"), default_config="kodak",
    ),
    Method(
        name="arbitrary", title="arbitrary style", kind="feedforward",
        help="any painting file as the style, no training: Magenta's arbitrary-style net (Ghiasi et al.) "
             "on its published weights (`styljax weights fetch`)",
        renderer="styljax.models.arbitrary_renderer:ArbitraryRenderer",
        store="styljax.models.arbitrary_store:STORE", model_format="styljax-arbitrary/1",
        default_model="magenta-arbitrary", default_model_cache=True,
        add_style_fn="styljax.infer.arbitrary:run_add_style",
    ),
    Method(
        name="photo", title="Deep Photo Style Transfer", kind="optimisation",
        help="Deep Photo Style Transfer: photorealistic optimisation with the matting Laplacian",
        stylize="styljax.infer.photo:run_photo",
    ),
    Method(
        name="video", title="video", kind="video",
        help="coherent online video: Net1, flow and mask nets, on a frozen StyleBank model",
        model_format="styljax-video-net1/1", default_model="video",
        task="styljax.tasks.video:VideoTask",
        trainer="styljax.train.video:register_train",
        train_help="train the video flow and mask nets (Net1) on a frozen StyleBank model",
        configs="VIDEO_EXPERIMENTS", config_names=("video", "video-finetune", "video-tiny"), default_config="video",
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
    from styljax.models.style_store import read_manifest

    return for_manifest(read_manifest(path), path)


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
