"""A trained feed-forward model as a portable artefact: serialized StableHLO (`jax.export`) or ONNX
(`jax2onnx`), with a JSON sidecar, for runtimes that have no styljax (`styljax export`).

- `programs`: what to export for a model and a style spec: a list of `Program`s, pure functions of
  arrays with named, symbolic-size inputs. The registry says how a method exports
  (`styljax.methods.Method.exporter`, default `renderer_programs` here, and `export_min_side`).
- `export_stablehlo`: `jax.export` with symbolic batch, height and width; the file is
  `Exported.serialize()`, which `jax.export.deserialize` reads with only jax (and flatbuffers).
- `export_onnx`: `jax2onnx.to_onnx` on the same functions. jax2onnx pins orbax-checkpoint below
  the version styljax needs, so it lives in an environment of its own (`export_env`, made by
  `setup_export_env` from the `export` extra's requirements): the conversion
  (`styljax.io.export_onnx`, the one module that imports jax2onnx) runs there as a subprocess that
  imports this styljax after the environment's own packages. Where jax2onnx imports in this
  process, it runs here.

Sizes: the models reflect-pad images to multiples of 4 (a texture net: of its `size_multiple`) and
crop the output back (`styljax.nets.stylebank.pad_to_multiple`), so the artefacts take any height
and width of at least `min_side` (the method's `export_min_side`, more for a texture net of many
scales). Under symbolic sizes the layers take the reference forms that the ONNX converter carries
through, and for StableHLO the fast forms that XLA:CPU runs as fast as the JAX path
(`styljax.nets.layers.symbolic_fast_forms`).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from styljax.errors import StyljaxError

FORMATS = ("stablehlo", "onnx", "tflite")
SIDECAR_SUFFIX = ".json"
ONNX_OPSET = 23  # jax2onnx's default
EXPORT_EXTRA = "export"  # the pyproject extra whose requirements go into the export environment
TFLITE_EXTRA = "tflite"  # tensorflow-cpu: installs beside styljax
# Installed into the export environment at this process's versions, so that the ONNX graph is
# traced by the same jax and flax as the StableHLO one (pillow: styljax.io.image, on the model-loading path).
PINNED_FROM_HERE = ("jax", "jaxlib", "flax", "numpy", "pillow")
STABLEHLO_COMPATIBILITY = (
    "jax.export guarantees that a serialized artefact compiles and runs on a jax/jaxlib up to 6 months "
    "newer than the one that exported it (backward compatibility) and up to 3 weeks older (forward "
    "compatibility); what counts is the jaxlib build date. From jax 0.11.1 on, a jax beyond the 6-month "
    "window refuses the artefact unless --jax_export_deserialize_expired_versions "
    "(JAX_EXPORT_DESERIALIZE_EXPIRED_VERSIONS=1) is set. Re-export with the jax you deploy."
)


@dataclasses.dataclass(frozen=True)
class Input:
    """One input of an exported program.

    Attributes:
      name: its name (the ONNX input's name; the position for StableHLO).
      dims: sizes: ints, or names of symbolic dimensions ("batch", "height", "width").
      description: what it holds, for the sidecar.
    """

    name: str
    dims: tuple[int | str, ...]
    description: str


@dataclasses.dataclass(frozen=True)
class Program:
    """One artefact: a pure function of float32 arrays, and what its inputs and output mean.

    Attributes:
      fn: the function (positional arguments in the order of `inputs`).
      inputs: its inputs.
      output: what the output holds (dims and description, for the sidecar).
      suffix: "" for the main artefact, else a word added to the file name ("predictor").
      extra: more sidecar fields.
    """

    fn: Callable
    inputs: tuple[Input, ...]
    output: Input
    suffix: str = ""
    extra: dict = dataclasses.field(default_factory=dict)


IMAGE_DIMS = ("batch", "height", "width", 3)
IMAGE_NOTE = "RGB images, NHWC float32 in [0, 1]"


def renderer_programs(renderer, spec, names: Sequence[str]) -> list[Program]:
    """The programs of a feed-forward model behind the `styljax.render.Renderer` interface.

    One style or a linear mix: `image -> stylized`, the style's (or mix's) params folded in. Every
    style (`spec.every`): `(image, style_weights) -> stylized`, the linear fusion of the styles by
    the (S,) weights (normalised to sum 1, as `--style a:0.7,b:0.3`; a one-hot vector is one style),
    made in the graph by the renderer's own `fuse`.

    Args:
      renderer: the model's `Renderer`.
      spec: the `StyleSpec` (one style, a mix, or every style; not regions); None (`all` on a
        model without stored styles) is an error here.
      names: the model's styles, the order of `style_weights`.

    Returns:
      [the main `Program`].
    """
    import jax.numpy as jnp

    if spec is None:
        raise StyljaxError("--style: 'all' but the model has no stored styles")
    out = Input("stylized", IMAGE_DIMS, "stylized images, NHWC float32 in [0, 1] (clipped), the input's size")
    image = Input("image", IMAGE_DIMS, IMAGE_NOTE)
    if spec.every:
        styles = renderer.params[renderer.styles_key]
        names = tuple(names)

        def fused(x, weights):
            w = jnp.asarray(weights, jnp.float32)
            return renderer.stylize_with(x, renderer.fuse(styles, {n: w[i] for i, n in enumerate(names)}))

        weights = Input("style_weights", (len(names),),
                        "linear fusion weights, one per style in `styles` order, normalised to sum 1 inside")
        return [Program(fused, (image, weights), out)]
    params = renderer.style_params(spec)
    return [Program(lambda x: renderer.stylize_with(x, params), (image,), out)]


def arbitrary_programs(renderer, spec, names: Sequence[str]) -> list[Program]:
    """The programs of an arbitrary-style model (`styljax.nets.arbitrary`).

    One style or a mix (stored styles or painting files): `image -> stylized`, the style vector
    folded in (`renderer_programs`). `--style all` (spec None where the model stores no style): the
    style is the input, `(image, style_vector) -> stylized` with the (D,) vector shared by the
    batch, and a second artefact, the style predictor, `painting -> style_vector` on the central
    square of a painting resized to `style_size` (Magenta's preprocessing, which resizes with
    Lanczos3 and so stays outside the artefact: `styljax.nets.arbitrary.style_input`). The sidecar
    gives the stored styles' vectors.

    Args:
      renderer: the model's `styljax.renderers.arbitrary_renderer.ArbitraryRenderer`.
      spec: the `StyleSpec`, or None for `all` on a model without stored styles.
      names: its stored styles.

    Returns:
      [the transformer's `Program`] or, for `all`, [the transformer's, the predictor's].
    """
    import jax.numpy as jnp

    from styljax.nets import arbitrary as ar

    if spec is not None and not spec.every:
        return renderer_programs(renderer, spec, names)
    cfg = renderer.cfg
    body = {k: v for k, v in renderer.params.items() if k != renderer.styles_key}
    stored = renderer.params[renderer.styles_key]
    vectors = {n: [float(v) for v in jnp.asarray(stored[n]["vector"]).ravel()] for n in names}
    d = cfg.style_dim
    transformer = Program(
        lambda x, v: ar.stylize(body, x, v, cfg),
        (Input("image", IMAGE_DIMS, IMAGE_NOTE),
         Input("style_vector", (d,), f"the ({d},) style vector: the predictor artefact's output for one "
                                     "painting, a stored style's (`style_vectors`), or a weighted mean of such")),
        Input("stylized", IMAGE_DIMS, "stylized images, NHWC float32 in [0, 1] (clipped), the input's size"),
        extra={"style_vectors": vectors})
    s = cfg.style_size
    predictor = Program(
        lambda p: ar.predict_style(body, p, cfg),
        (Input("painting", ("batch", s, s, 3),
               f"RGB paintings, NHWC float32 in [0, 1]: the central square of each, resized to {s}x{s} "
               "(Lanczos3, antialiased, clipped to [0, 1])"),),
        Input("style_vector", ("batch", d), f"the ({d},) style vector of each painting"),
        suffix="predictor",
        extra={"sizes": {"fixed": [s, s], "note": f"paintings are {s}x{s}: crop the central square and "
                                                   f"resize it to {s} px first"}})
    return [transformer, predictor]


# ------------------------------------------------------------------------------------- the model


@dataclasses.dataclass
class Request:
    """What to export: the parsed command line, plain values (it crosses to the ONNX worker as JSON).

    Attributes:
      method: the registry name.
      model: the model directory, or None for the method's shipped model.
      style: the `--style` text (`NAME`, `a:0.7,b:0.3`, `all`).
      fmt: one of `FORMATS`.
      out: the artefact's path.
      batch, height, width: fixed sizes, or None for symbolic.
      platforms: StableHLO's lowering platforms.
    """

    method: str
    model: str | None
    style: str
    fmt: str
    out: str
    batch: int | None = None
    height: int | None = None
    width: int | None = None
    platforms: tuple[str, ...] = ("cpu",)


def load(req: Request):
    """(method, renderer, spec, programs) for a request; one-line errors for a method that does not
    export, an unknown style, regions, or a fixed size under the model's minimum."""
    from styljax import methods
    from styljax.render import StyleSpec

    method = methods.get(req.method, "export")
    renderer = method.open_renderer(req.model)
    text = renderer.prepare_styles(req.style)  # the arbitrary-style model: painting files become styles
    if text.strip() == "all" and not renderer.styles:
        spec = None  # the style is an input and the model stores none: its exporter says what that means
    else:
        spec = StyleSpec.parse(text, renderer.styles)
    for flag, value in (("--height", req.height), ("--width", req.width)):
        if value is not None and value < min_side(method, renderer):
            raise StyljaxError(f"{flag} {value}: a {method.title} model takes sides of at least "
                               f"{min_side(method, renderer)} px")
    if req.batch is not None and req.batch < 1:
        raise StyljaxError(f"--batch {req.batch}: must be at least 1")
    programs = method.load_exporter()(renderer, spec, renderer.styles)
    return method, renderer, spec, programs


def min_side(method, renderer) -> int:
    """The smallest height and width the model's artefacts take: the method's `export_min_side`, or
    more for a model whose config pads to a larger multiple (a texture net of K scales pads to
    2^(K-1) and its coarsest scale needs 2 px for the 3x3 reflect pads: sides over 2^(K-1))."""
    multiple = getattr(renderer.cfg, "size_multiple", 1)
    return max(method.export_min_side, multiple + 1)


def input_specs(program: Program, req: Request, min_side: int) -> list:
    """`jax.ShapeDtypeStruct`s of the program's inputs: the named dims symbolic (constrained to at
    least `min_side` for height and width) unless the request fixes them."""
    import jax
    import jax.numpy as jnp
    from jax import export

    fixed = {"batch": req.batch, "height": req.height, "width": req.width}
    names = sorted({d for i in program.inputs for d in i.dims if isinstance(d, str) and fixed.get(d) is None})
    constraints = tuple(f"{n} >= {min_side}" for n in names if n in ("height", "width"))
    symbols = dict(zip(names, export.symbolic_shape(", ".join(names), constraints=constraints))) if names else {}
    specs = []
    for i in program.inputs:
        dims = tuple(d if isinstance(d, int) else (fixed.get(d) or symbols[d]) for d in i.dims)
        specs.append(jax.ShapeDtypeStruct(dims, jnp.float32))
    return specs


def artefact_path(out: Path, program: Program) -> Path:
    """The main artefact at `out`, the others beside it with their suffix (`model_predictor.onnx`)."""
    return out if not program.suffix else out.with_name(f"{out.stem}_{program.suffix}{out.suffix}")


def sidecar_path(path: Path) -> Path:
    """`model.onnx` → `model.onnx.json`."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sidecar(req: Request, method, renderer, spec, program: Program, path: Path, details: dict,
            written: Path | None = None) -> dict:
    """The JSON written next to an artefact: styles, input convention, sizes, checksum, versions.
    `written`: the file whose checksum and size it gives, if not `path` (the artefact's temporary,
    before it is renamed into place)."""
    import jax

    from styljax import __version__

    written = path if written is None else written

    def describe(i: Input) -> dict:
        fixed = {"batch": req.batch, "height": req.height, "width": req.width}
        dims = [d if isinstance(d, int) else (fixed.get(d) or d) for d in i.dims]
        return {"name": i.name, "shape": dims, "dtype": "float32", "description": i.description}

    return {
        "format": req.fmt,
        "file": path.name,
        "sha256": sha256(written),
        "bytes": written.stat().st_size,
        "method": method.name,
        "model": str(req.model) if req.model else f"shipped {method.name} model",
        "style": req.style,
        "styles": list(spec.names) if spec is not None else [],
        "inputs": [describe(i) for i in program.inputs],
        "output": describe(program.output),
        "layout": "NHWC",
        "range": [0.0, 1.0],
        "sizes": {"min_side": min_side(method, renderer),
                  "note": "any height and width from min_side up: the model reflect-pads to multiples of "
                          f"{getattr(renderer.cfg, 'size_multiple', 4)} inside and crops the output back"},
        "styljax_version": __version__,
        "jax_version": jax.__version__,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **program.extra,
        **details,
    }


def _write_json(path: Path, data: dict) -> None:
    from styljax.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


# ------------------------------------------------------------------------------------- StableHLO


def export_stablehlo(req: Request) -> list[Path]:
    """Serialize each program with `jax.export` (symbolic sizes); write the files and sidecars.

    Returns:
      The artefacts' paths.
    """
    import jax
    from jax import export

    from styljax.nets import layers

    method, renderer, spec, programs = load(req)
    written = []
    for program in programs:
        path = artefact_path(Path(req.out), program)
        with layers.symbolic_fast_forms():  # the convs XLA:CPU runs fast, as on the JAX path
            exported = export.export(jax.jit(program.fn), platforms=tuple(req.platforms))(
                *input_specs(program, req, min_side(method, renderer)))
        details = {"stablehlo": {
            "load": "jax.export.deserialize(bytearray(open(FILE, 'rb').read())).call(*inputs)",
            "calling_convention_version": exported.calling_convention_version,
            "platforms": list(exported.platforms),
            "in_shapes": [str(a.shape) for a in exported.in_avals],
            "needs": "jax (and flatbuffers, which jax's deserialization imports)",
            "compatibility": STABLEHLO_COMPATIBILITY,
        }}
        # The artefact and its sidecar are renamed into place together, once both are written: a
        # failed or killed export leaves the previous pair (or none), not an artefact beside a
        # sidecar that describes another one (but for the instant between the two renames).
        from styljax.io.atomic import atomic_paths

        with atomic_paths(path, sidecar_path(path)) as (tmp, side_tmp):
            tmp.write_bytes(bytes(exported.serialize()))
            meta = sidecar(req, method, renderer, spec, program, path, details, written=tmp)
            side_tmp.write_text(json.dumps(meta, indent=2) + "\n")
        written.append(path)
    return written


# ------------------------------------------------------------------------------------------ ONNX


def export_env() -> Path:
    """The environment that holds the ONNX converter: `$STYLJAX_EXPORT_ENV`, else `export-env` in
    the styljax cache (`styljax.io.weights.cache_dir`)."""
    if env := os.environ.get("STYLJAX_EXPORT_ENV"):
        return Path(env).expanduser()
    from styljax.io.weights import cache_dir

    return cache_dir() / "export-env"


def _env_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


READY_FILE = "styljax-export-ready.json"  # written last by `setup_export_env`: what it installed


def env_ready(env: Path | None = None) -> bool:
    """Whether the export environment was set up to the end (an interrupted set-up is not)."""
    env = export_env() if env is None else Path(env)
    return _env_python(env).is_file() and (env / READY_FILE).is_file()


def extra_requirements(extra: str = EXPORT_EXTRA) -> list[str]:
    """The requirements of one of styljax's extras, from its installed metadata."""
    from importlib import metadata

    try:
        reqs = metadata.requires("styljax") or []
    except metadata.PackageNotFoundError:
        raise StyljaxError("styljax is not installed (pip install -e .): its `export` extra cannot be read") from None
    marker = f'extra == "{extra}"'
    return [r.split(";")[0].strip() for r in reqs if marker in r.replace("'", '"')]


def env_requirements() -> list[str]:
    """What `setup_export_env` installs: the `export` extra, and jax, jaxlib, flax, NumPy and Pillow
    at this process's versions."""
    from importlib import metadata

    pins = [f"{name}=={metadata.version(name)}" for name in PINNED_FROM_HERE]
    return extra_requirements() + pins


def setup_export_env(env: Path | None = None, log=print) -> Path:
    """Create (or update) the export environment: a venv with `env_requirements()` (pip, from the
    package registry). Returns its path."""
    env = export_env() if env is None else Path(env)
    reqs = env_requirements()
    log(f"export environment {env}: installing {' '.join(reqs)}")
    try:
        if not _env_python(env).is_file():
            subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        subprocess.run([str(_env_python(env)), "-m", "pip", "install", "-q", *reqs], check=True)
        (env / READY_FILE).write_text(json.dumps({"requirements": reqs}) + "\n")
    except (OSError, subprocess.CalledProcessError) as e:
        raise StyljaxError(f"{env}: could not set up the export environment: {e}") from None
    return env


def onnx_converter() -> str:
    """How ONNX export runs here: "here" (jax2onnx imports in this process) or "env" (the export
    environment has it); else a one-line error naming the extra and how to install it."""
    import importlib.util

    if importlib.util.find_spec("jax2onnx") is not None:
        return "here"
    if env_ready():
        return "env"
    raise StyljaxError(
        f"--format onnx needs the `{EXPORT_EXTRA}` extra (jax2onnx), which is not installed: run "
        f"`styljax export --setup` to install it into its own environment ({export_env()}; jax2onnx pins "
        f"orbax-checkpoint below the version styljax needs, so it cannot share styljax's)")


def _run_worker(req: Request) -> list[dict]:
    """Run `onnx_worker` in the export environment, with this styljax appended to its path (after
    the environment's own packages, so its jax2onnx, orbax and jax are the ones imported)."""
    import styljax

    root = str(Path(styljax.__file__).resolve().parent.parent)
    code = ("import sys; sys.path.append(sys.argv[1]); from styljax.io.export_onnx import onnx_worker; "
            "sys.exit(onnx_worker(sys.argv[2:]))")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    req_json = json.dumps(dataclasses.asdict(req))
    proc = subprocess.run([str(_env_python(export_env())), "-c", code, root, req_json], capture_output=True,
                          text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("STYLJAX-ONNX ")]
    if proc.returncode != 0 or not lines:
        errs = [ln for ln in proc.stderr.splitlines() if ln.startswith("styljax: ")]
        if errs:
            raise StyljaxError(errs[-1].removeprefix("styljax: "))
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise StyljaxError(f"ONNX conversion failed in {export_env()} (exit {proc.returncode}): {tail}")
    return json.loads(lines[-1].removeprefix("STYLJAX-ONNX "))


def export_onnx(req: Request) -> list[Path]:
    """Convert each program to ONNX (here or in the export environment, `onnx_converter`); write the
    sidecars. Returns the artefacts' paths."""
    where = onnx_converter()
    method, renderer, spec, programs = load(req)  # errors before any conversion starts
    if where == "here":
        from styljax.io.export_onnx import convert

        results = convert(req)
    else:
        results = _run_worker(req)
    written = []
    for program, res in zip(programs, results):
        path = Path(res["path"])
        details = {"onnx": {"opset": res["opset"], "converter": res["converter"], "onnx_version": res["onnx"],
                            "converted_in": "this environment" if where == "here" else str(export_env()),
                            "load": "onnxruntime.InferenceSession(FILE).run(None, {name: array, ...})"}}
        _write_json(sidecar_path(path), sidecar(req, method, renderer, spec, program, path, details))
        written.append(path)
    return written


# ---------------------------------------------------------------------------------------- TFLite


def export_tflite(req: Request) -> list[Path]:
    """Convert each program to TFLite with jax2tf and TensorFlow's converter (`styljax.io.export_tflite`,
    the `tflite` extra, in this process); write the sidecars. Returns the artefacts' paths."""
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        raise StyljaxError(f"--format tflite needs the `{TFLITE_EXTRA}` extra (tensorflow-cpu), which is not "
                           f"installed: pip install 'styljax[{TFLITE_EXTRA}]'")
    from styljax.io.export_tflite import convert

    method, renderer, spec, programs = load(req)
    written = []
    for program, res in zip(programs, convert(req, programs, min_side(method, renderer))):
        path = Path(res["path"])
        details = {"tflite": {"converter": res["converter"],
                              "load": "ai_edge_litert.interpreter.Interpreter(FILE): resize_tensor_input to the "
                                      "image's shape, allocate_tensors, set_tensor, invoke, get_tensor"}}
        _write_json(sidecar_path(path), sidecar(req, method, renderer, spec, program, path, details))
        written.append(path)
    return written


def export(req: Request) -> list[Path]:
    """Write the artefacts (and sidecars) of `req` in its format. Returns their paths."""
    if req.fmt not in FORMATS:
        raise StyljaxError(f"--format: expected one of {', '.join(FORMATS)}, got {req.fmt!r}")
    return {"stablehlo": export_stablehlo, "onnx": export_onnx, "tflite": export_tflite}[req.fmt](req)


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The sidecar of the artefact at `path`, with its checksum verified."""
    path = Path(path)
    meta = json.loads(sidecar_path(path).read_text())
    if sha256(path) != meta["sha256"]:
        raise StyljaxError(f"{path}: checksum does not match {sidecar_path(path).name}")
    return meta
