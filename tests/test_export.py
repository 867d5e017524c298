"""`styljax export`: the artefacts are the model. Each is loaded in a subprocess that cannot import
styljax or Flax (jax alone for StableHLO; onnxruntime alone for ONNX, no jax either), run at three
sizes and two batch sizes, and compared with what `styljax stylize` renders (the model's
`Renderer.render`, the function its runner calls) on the same inputs: max |Δ| ≤ 1e-3 on [0, 1]."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax.io import export as ex
from styljax import methods
from styljax.infer.cli import main
from styljax.render import StyleSpec

# Sizes off the multiple of 4 too (the model pads inside), at two batch sizes.
CASES = [(1, 16, 16), (2, 20, 28), (1, 33, 21), (2, 33, 21)]
TOL = 1e-3

# The subprocess: the site-packages of this environment, and nothing else (-I -S: no cwd, no
# $PYTHONPATH, no .pth files, so not the editable styljax either); the packages a clean runtime
# would lack are refused outright, so any import of them fails the run.
RUNNER = r"""
import importlib.abc, json, sys
site, blocked, kind, artefact, inputs, outputs, inputs_names = sys.argv[1:8]
sys.path.append(site)
blocked = set(blocked.split(","))
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is not installed here")
sys.meta_path.insert(0, Refuse())
import numpy as np
data = np.load(inputs)
cases = sorted({k.split("/")[0] for k in data.files})
out = {}
if kind == "stablehlo":
    from jax import export
    exp = export.deserialize(bytearray(open(artefact, "rb").read()))
    for c in cases:
        args = [data[f"{c}/{i}"] for i in range(len(exp.in_avals))]
        out[c] = np.asarray(exp.call(*args))
elif kind == "tflite":
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=artefact)
    names = json.loads(inputs_names)
    details = [next(d for d in it.get_input_details() if n in d["name"]) for n in names]
    for c in cases:
        args = [data[f"{c}/{i}"] for i in range(len(names))]
        for d, a in zip(details, args):
            it.resize_tensor_input(d["index"], a.shape)
        it.allocate_tensors()
        for d, a in zip(details, args):
            it.set_tensor(d["index"], a)
        it.invoke()
        out[c] = it.get_tensor(it.get_output_details()[0]["index"])
else:
    import onnxruntime as ort
    sess = ort.InferenceSession(artefact, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    for c in cases:
        out[c] = sess.run(None, {n: data[f"{c}/{i}"] for i, n in enumerate(names)})[0]
np.savez(outputs, **out)
print(json.dumps(sorted(m.split(".")[0] for m in sys.modules)))
"""
NOT_STABLEHLO = ("styljax", "flax", "optax", "orbax", "onnxruntime")
NOT_ONNX = ("styljax", "flax", "optax", "orbax", "jax", "jaxlib")
NOT_TFLITE = NOT_ONNX + ("tensorflow", "onnxruntime")


def run_clean(kind: str, artefact: Path, inputs: dict, tmp_path: Path, site: str | None = None) -> dict:
    """Run `artefact` on {case: [arrays]} in the clean subprocess; {case: output}."""
    blocked = {"stablehlo": NOT_STABLEHLO, "onnx": NOT_ONNX, "tflite": NOT_TFLITE}[kind]
    names = json.dumps([i["name"] for i in ex.read_sidecar(artefact)["inputs"]])
    np.savez(tmp_path / "inputs.npz", **{f"{c}/{i}": a for c, arrs in inputs.items() for i, a in enumerate(arrs)})
    site = site or sysconfig.get_paths()["purelib"]
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", RUNNER, site, ",".join(blocked), kind, str(artefact),
         str(tmp_path / "inputs.npz"), str(tmp_path / "outputs.npz"), names],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert not loaded & set(blocked), loaded & set(blocked)
    out = np.load(tmp_path / "outputs.npz")
    return {c: out[c] for c in out.files}


def images(b: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + 7 * h + w).random((b, h, w, 3), np.float32)


def reference(model_dir: Path, method: str, spec_text: str, x: np.ndarray) -> np.ndarray:
    """What `styljax stylize --method M --style SPEC` renders for x: the renderer's `render`."""
    r = methods.get(method).open_renderer(model_dir)
    spec = StyleSpec.parse(r.prepare_styles(spec_text), r.styles)
    return np.asarray(r.render(jnp.asarray(x), spec)[spec.tags[0]])


def style_cases(names: list[str], style: str) -> tuple[dict, dict]:
    """Inputs at every size of CASES for an artefact exported with `--style style`, and the `--style`
    each equals: with `all`, a different mix of the styles `names` (the weight vector input) per case."""
    inputs, specs = {}, {}
    for k, c in enumerate(CASES):
        x = images(*c)
        if style == "all":
            w = np.roll(np.array([0.6, 0.4, 0.0], np.float32), k)
            inputs[f"c{k}"] = [x, w]
            specs[f"c{k}"] = ",".join(f"{n}:{v}" for n, v in zip(names, w) if v)
        else:
            inputs[f"c{k}"] = [x]
            specs[f"c{k}"] = style
    return inputs, specs


def export_cli(*argv: str) -> int:
    return main(["export", *argv])


ARB_CFG = dict(style_size=64)  # a smaller painting square than Magenta's 256: same layout, faster


@pytest.fixture(scope="module")
def models(tiny_models, tmp_path_factory) -> dict:
    """The suite's tiny StyleBank and CIN models, and tiny random ones of the other exporting methods:
    a texture net (styles red, green, blue) and an arbitrary-style model (stored styles dots, lines)."""
    from styljax.nets import arbitrary as ar
    from styljax.nets import transform as tr
    from styljax.nets.texture_net import TextureNetConfig
    from styljax.stores import arbitrary_store, texture_store

    root = tmp_path_factory.mktemp("export_models")
    cfg = TextureNetConfig(scales=3, channels=4)
    names = ["red", "green", "blue"]
    params = tr.init(jax.random.key(2), cfg, names)
    for k, n in enumerate(names):
        params["styles"][n] = jax.tree.map(
            lambda a, k=k: a + 0.3 * jax.random.normal(jax.random.key(20 + k), a.shape), params["styles"][n])
    texture_store.STORE.save_model(root / "texture-net", params, cfg, {"method": "texture-net"})
    acfg = ar.ArbitraryConfig(**ARB_CFG)
    aparams = ar.init(jax.random.key(3), acfg)
    # random MobileNet features barely differ between paintings: scale the bottleneck so that the
    # vectors (and their γ/β) differ by O(1), as the real predictor's do
    bottleneck = aparams["predictor"]["bottleneck"]
    aparams["predictor"]["bottleneck"] = {**bottleneck, "kernel": bottleneck["kernel"] * 1000.0}
    rng = np.random.default_rng(5)
    aparams["styles"] = {n: {"vector": jnp.asarray(rng.normal(size=acfg.style_dim), jnp.float32)}
                         for n in ("dots", "lines")}
    arbitrary_store.STORE.save_model(root / "arbitrary", aparams, acfg, {"method": "arbitrary"})
    from styljax.io import image

    image.save_image(root / "painting.png", np.kron(rng.uniform(size=(5, 4, 3)), np.ones((10, 10, 1))))
    return {**tiny_models, "texture-net": root / "texture-net", "arbitrary": root / "arbitrary",
            "painting": root / "painting.png"}


def predictor_reference(model_dir: Path, paintings: np.ndarray) -> np.ndarray:
    """The style vectors `styljax stylize --method arbitrary --style PAINTING` uses."""
    from styljax.nets import arbitrary as ar

    r = methods.get("arbitrary").open_renderer(model_dir)
    return np.asarray(ar.predict_style(r.params, jnp.asarray(paintings), r.cfg))


# ------------------------------------------------------------------------------------------ StableHLO


@pytest.mark.parametrize("method", ["stylebank", "cin", "texture-net"])
def test_stablehlo_matches_stylize_without_styljax(models, tmp_path, method, capsys):
    out = tmp_path / f"{method}.shlo"
    assert export_cli("--method", method, "--model", str(models[method]), "--style", "green",
                      "--format", "stablehlo", "--out", str(out), "--platforms", "cpu") == 0
    meta = ex.read_sidecar(out)  # checksum verified
    assert meta["styles"] == ["green"] and meta["inputs"][0]["shape"] == ["batch", "height", "width", 3]
    assert meta["stablehlo"]["compatibility"].startswith("jax.export guarantees")
    inputs = {f"c{k}": [images(*c)] for k, c in enumerate(CASES)}
    got = run_clean("stablehlo", out, inputs, tmp_path)
    for k, c in enumerate(CASES):
        want = reference(models[method], method, "green", inputs[f"c{k}"][0])
        assert got[f"c{k}"].shape == want.shape == c + (3,)
        assert np.abs(got[f"c{k}"] - want).max() <= TOL


def arbitrary_cases(meta: dict) -> tuple[dict, dict]:
    """Inputs of the arbitrary transformer at every size (a stored style's vector, or a mix of two),
    and the `--style` each equals."""
    vectors = {n: np.asarray(v, np.float32) for n, v in meta["style_vectors"].items()}
    inputs, specs = {}, {}
    for k, c in enumerate(CASES):
        if k % 2:
            inputs[f"c{k}"] = [images(*c), 0.25 * vectors["dots"] + 0.75 * vectors["lines"]]
            specs[f"c{k}"] = "dots:0.25,lines:0.75"
        else:
            inputs[f"c{k}"] = [images(*c), vectors["dots"]]
            specs[f"c{k}"] = "dots"
    return inputs, specs


PAINTINGS = [(1, ARB_CFG["style_size"], ARB_CFG["style_size"]), (2, ARB_CFG["style_size"], ARB_CFG["style_size"])]


@pytest.mark.parametrize("fmt", ["stablehlo", pytest.param("onnx", marks=pytest.mark.slow)])
def test_arbitrary_style_vector_input_and_predictor(models, tmp_path, fmt, request):
    """`--method arbitrary --style all`: the transformer takes the 100-d vector, the predictor is a
    second artefact; both match the JAX path (stored styles, a mix of vectors, paintings)."""
    model = models["arbitrary"]
    out = tmp_path / ("arb.shlo" if fmt == "stablehlo" else "arb.onnx")
    site = None
    if fmt == "onnx":
        site = _env_site(request.getfixturevalue("export_env"))
    argv = ["--platforms", "cpu"] if fmt == "stablehlo" else []
    assert export_cli("--method", "arbitrary", "--model", str(model), "--style", "all", "--format", fmt,
                      "--out", str(out), *argv) == 0
    pred = out.with_name(f"arb_predictor{out.suffix}")
    meta, pmeta = ex.read_sidecar(out), ex.read_sidecar(pred)
    assert [i["name"] for i in meta["inputs"]] == ["image", "style_vector"] and meta["inputs"][1]["shape"] == [100]
    assert sorted(meta["style_vectors"]) == ["dots", "lines"]
    assert pmeta["inputs"][0]["shape"] == ["batch", 64, 64, 3] and pmeta["output"]["shape"] == ["batch", 100]
    inputs, specs = arbitrary_cases(meta)
    got = run_clean(fmt, out, inputs, tmp_path, site=site)
    for k, c in enumerate(CASES):
        want = reference(model, "arbitrary", specs[f"c{k}"], inputs[f"c{k}"][0])
        assert got[f"c{k}"].shape == want.shape == c + (3,)
        assert np.abs(got[f"c{k}"] - want).max() <= TOL, specs[f"c{k}"]
    paintings = {f"p{k}": [images(*c, seed=3)] for k, c in enumerate(PAINTINGS)}
    vecs = run_clean(fmt, pred, paintings, tmp_path, site=site)
    for k, c in enumerate(PAINTINGS):
        want = predictor_reference(model, paintings[f"p{k}"][0])
        assert vecs[f"p{k}"].shape == want.shape == (c[0], 100)
        # relative to the vectors' scale (the tiny model's bottleneck is scaled up)
        assert np.abs(vecs[f"p{k}"] - want).max() <= TOL * max(1.0, float(np.abs(want).max())), k
    assert np.abs(vecs["p1"][0] - vecs["p1"][1]).max() > 0.1  # paintings differ


def test_arbitrary_painting_file_as_the_style(models, tmp_path):
    """`--style PAINTING.png`: the painting's vector is folded in; one input, the image."""
    model = models["arbitrary"]
    out = tmp_path / "p.shlo"
    assert export_cli("--method", "arbitrary", "--model", str(model), "--style", str(models["painting"]),
                      "--format", "stablehlo", "--out", str(out), "--platforms", "cpu") == 0
    meta = ex.read_sidecar(out)
    assert [i["name"] for i in meta["inputs"]] == ["image"] and meta["styles"] == ["painting"]
    assert not out.with_name("p_predictor.shlo").exists()
    exp = jax.export.deserialize(bytearray(out.read_bytes()))
    x = images(2, 20, 28)
    want = reference(model, "arbitrary", str(models["painting"]), x)
    assert np.abs(np.asarray(exp.call(x)) - want).max() <= TOL


def test_stablehlo_style_weights_input_is_a_linear_fusion(tiny_models, tmp_path):
    """`--style all`: one-hot weights give each style, other weights the fusion `a:0.7,b:0.3` renders."""
    model = tiny_models["cin"]
    out = tmp_path / "all.shlo"
    assert export_cli("--method", "cin", "--model", str(model), "--style", "all", "--format", "stablehlo",
                      "--out", str(out), "--platforms", "cpu") == 0
    meta = ex.read_sidecar(out)
    names = meta["styles"]
    assert sorted(names) == ["blue", "green", "red"] and meta["inputs"][1]["shape"] == [3]
    x = images(2, 20, 28)
    specs = {n: np.eye(3, dtype=np.float32)[i] for i, n in enumerate(names)}
    specs[f"{names[0]}:0.7,{names[2]}:0.3"] = np.array([0.7, 0.0, 0.3], np.float32)
    specs[f"{names[1]}:2,{names[2]}:2"] = np.array([0.0, 2.0, 2.0], np.float32)  # normalised inside
    keys = list(specs)
    got = run_clean("stablehlo", out, {f"s{i}": [x, specs[k]] for i, k in enumerate(keys)}, tmp_path)
    outs = [got[f"s{i}"] for i in range(len(keys))]
    for i, k in enumerate(keys):
        assert np.abs(outs[i] - reference(model, "cin", k, x)).max() <= TOL, k
    assert np.abs(outs[0] - outs[1]).max() > 0.01  # the weights matter


def test_stablehlo_fixed_sizes(tiny_models, tmp_path):
    out = tmp_path / "fixed.shlo"
    assert export_cli("--method", "stylebank", "--model", str(tiny_models["stylebank"]), "--style", "red:1,blue:1",
                      "--format", "stablehlo", "--out", str(out), "--batch", "2", "--height", "20",
                      "--platforms", "cpu") == 0
    exp = jax.export.deserialize(bytearray(out.read_bytes()))
    assert str(exp.in_avals[0].shape) == "(2, 20, width, 3)"
    x = images(2, 20, 12)
    want = reference(tiny_models["stylebank"], "stylebank", "red:1,blue:1", x)
    assert np.abs(np.asarray(exp.call(x)) - want).max() <= TOL
    with pytest.raises(Exception):  # another batch size is refused by the artefact's shape check
        exp.call(images(1, 20, 12))
    with pytest.raises(Exception):  # so is a side under the model's minimum (8): jax cannot refine the shapes
        exp.call(images(2, 20, 6))


def test_symbolic_layers_equal_the_fast_forms():
    """The reference forms the layers take under symbolic sizes (reflect pad, stride-2 conv, nearest
    upsampling + conv, instance norm, padding to a multiple of 4) give the fast forms' values."""
    from jax import export

    from styljax.nets import layers
    from styljax.nets.stylebank import pad_to_multiple

    rng = np.random.default_rng(0)
    k9, k3 = (jnp.asarray(rng.normal(size=(k, k, 3, 4)).astype(np.float32)) for k in (9, 3))
    k3b = jnp.asarray(rng.normal(size=(3, 3, 4, 4)).astype(np.float32))
    fns = {
        "reflect_pad": lambda x: layers.reflect_pad(x, 4),
        "conv9": lambda x: layers.reflect_conv(x, k9),
        "conv3_s2": lambda x: layers.reflect_conv(x, k3, stride=2),
        "upsample_conv": lambda x: layers.upsample_reflect_conv(layers.reflect_conv(x, k3), k3b),
        "instance_norm": lambda x: layers.instance_norm(x * 3.0 + 1.0),
        "pad_to_multiple": pad_to_multiple,
    }
    # after padding to a multiple of 4, the fast forms are provable under symbolic sizes too
    fns.update({f"padded_{n}": (lambda x, f=f: f(pad_to_multiple(x))) for n, f in list(fns.items())
                if n != "pad_to_multiple"})
    shape = export.symbolic_shape("b, h, w, 3", constraints=("h >= 8", "w >= 8"))
    for fast in (False, True):  # the reference forms (ONNX), the fast ones where provable (StableHLO)
        for name, f in fns.items():
            with layers.symbolic_fast_forms(fast):
                exp = export.export(jax.jit(f))(jax.ShapeDtypeStruct(shape, jnp.float32))
            for b, h, w in [(1, 8, 8), (2, 13, 10), (1, 16, 23)]:
                x = images(b, h, w)
                got, want = np.asarray(exp.call(x)), np.asarray(jax.jit(f)(x))
                assert got.shape == want.shape, name
                assert np.abs(got - want).max() <= 1e-4, (name, fast)


def test_stablehlo_failure_before_the_sidecar_keeps_the_previous_pair(models, tmp_path, monkeypatch):
    """An export over an earlier one that fails after the artefact is written and before its sidecar
    is (a full disk; issue #36) leaves the earlier artefact and sidecar, still matching, and no
    temporaries: the two are renamed into place together. (It used to leave the new artefact beside
    the old sidecar, whose checksum no longer matched.)"""
    import errno

    from styljax.errors import StyljaxError

    out = tmp_path / "m.shlo"
    assert export_cli("--method", "stylebank", "--model", str(models["stylebank"]), "--style", "red",
                      "--format", "stablehlo", "--out", str(out), "--platforms", "cpu") == 0
    before = out.read_bytes(), ex.sidecar_path(out).read_text()

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ex, "sidecar", full_disk)
    with pytest.raises(StyljaxError, match="No space left on device"):
        ex.export(ex.Request(method="stylebank", model=str(models["stylebank"]), style="green", fmt="stablehlo",
                             out=str(out)))
    assert (out.read_bytes(), ex.sidecar_path(out).read_text()) == before
    assert ex.read_sidecar(out)["styles"] == ["red"]  # checksum verified
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.shlo", "m.shlo.json"]


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("argv, words", [
    (["--style", "purple", "--format", "stablehlo"], "unknown styles: purple"),
    (["--style", "red", "--format", "stablehlo", "--height", "4"], "--height 4"),
    (["--style", "red", "--format", "coreml"], "--format: expected one of stablehlo, onnx, tflite"),
    (["--style", "red,blue", "--format", "stablehlo"], None),  # a linear fusion exports: no error
])
def test_bad_input_one_line_exit_2(tiny_models, tmp_path, capsys, argv, words):
    out = tmp_path / "m.shlo"
    rc = export_cli("--method", "stylebank", "--model", str(tiny_models["stylebank"]), *argv, "--out", str(out),
                    "--platforms", "cpu")
    err = capsys.readouterr().err
    if words is None:
        assert rc == 0 and out.is_file()
        return
    assert rc == 2 and words in err and len(err.strip().splitlines()) == 1 and not out.exists()


def test_method_without_export(tmp_path, capsys):
    assert export_cli("--method", "gatys", "--style", "x", "--format", "onnx", "--out", str(tmp_path / "g")) == 2
    err = capsys.readouterr().err
    assert "--method: expected one of stylebank, cin, johnson" in err and len(err.strip().splitlines()) == 1


def test_onnx_without_the_converter_names_the_extra(tiny_models, tmp_path, monkeypatch, capsys):
    import importlib.util

    if importlib.util.find_spec("jax2onnx") is not None:  # it cannot share styljax's environment (orbax pin)
        pytest.skip("jax2onnx imports here")
    monkeypatch.setenv("STYLJAX_EXPORT_ENV", str(tmp_path / "no-env"))
    rc = export_cli("--method", "cin", "--model", str(tiny_models["cin"]), "--style", "red", "--format", "onnx",
                    "--out", str(tmp_path / "m.onnx"))
    err = capsys.readouterr().err
    assert rc == 2 and "`export` extra (jax2onnx)" in err and "styljax export --setup" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "m.onnx").exists()


def test_export_extra_is_what_the_environment_gets():
    reqs = ex.env_requirements()
    assert any(r.startswith("jax2onnx") for r in reqs) and f"jax=={jax.__version__}" in reqs


# ------------------------------------------------------------------------------------------ ONNX


@pytest.fixture(scope="module")
def export_env():
    """The ONNX converter's environment (`styljax export --setup`): $STYLJAX_EXPORT_ENV, else the
    user's cache (the suite's private cache would rebuild it every run); made if missing."""
    env = Path(os.environ.get("STYLJAX_EXPORT_ENV") or
               Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "styljax" / "export-env")
    import fcntl

    before = os.environ.get("STYLJAX_EXPORT_ENV")
    os.environ["STYLJAX_EXPORT_ENV"] = str(env)
    env.parent.mkdir(parents=True, exist_ok=True)
    with open(env.parent / f".{env.name}.lock", "w") as lock:  # pytest-xdist workers: one sets it up
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ex.env_ready(env):
            ex.setup_export_env(env)
    yield env
    if before is None:
        os.environ.pop("STYLJAX_EXPORT_ENV", None)
    else:
        os.environ["STYLJAX_EXPORT_ENV"] = before


def _env_site(env: Path) -> str:
    """The export environment's site-packages (onnxruntime without jax for the clean runs)."""
    return subprocess.run([str(ex._env_python(env)), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("method, style", [("stylebank", "blue"), ("cin", "red"), ("cin", "all"),
                                           ("texture-net", "all")])
def test_onnx_matches_stylize_with_onnxruntime_alone(models, tmp_path, export_env, method, style):
    tiny_models = models
    out = tmp_path / f"{method}.onnx"
    assert export_cli("--method", method, "--model", str(tiny_models[method]), "--style", style,
                      "--format", "onnx", "--out", str(out)) == 0
    meta = ex.read_sidecar(out)
    assert meta["onnx"]["converter"].startswith("jax2onnx")
    names = meta["styles"]
    inputs, specs = style_cases(names, style)
    got = run_clean("onnx", out, inputs, tmp_path, site=_env_site(export_env))
    for k, c in enumerate(CASES):
        want = reference(tiny_models[method], method, specs[f"c{k}"], inputs[f"c{k}"][0])
        assert got[f"c{k}"].shape == want.shape == c + (3,)
        assert np.abs(got[f"c{k}"] - want).max() <= TOL, (c, specs[f"c{k}"])


ONNX_OPS = r"""
import sys
sys.path.append(sys.argv[1])
import jax, jax.numpy as jnp, numpy as np, onnxruntime as ort
from jax import export
from jax2onnx import to_onnx
from styljax.nets import layers
rng = np.random.default_rng(0)
k3 = jnp.asarray(rng.normal(size=(3, 3, 3, 3)).astype(np.float32))
ops = {
    "reflect_pad": lambda x: layers.reflect_pad(x, 4),
    "instance_norm": lambda x: layers.instance_norm(x * 3.0 + 1.0),
    "upsample_nearest_2x": layers.upsample_nearest_2x,
    "upsample_conv": lambda x: layers.upsample_reflect_conv(x, k3),
}
spec = jax.ShapeDtypeStruct(export.symbolic_shape("b, h, w, 3", constraints=("h >= 8", "w >= 8")), jnp.float32)
worst = {}
for name, f in ops.items():
    sess = ort.InferenceSession(to_onnx(f, [spec]).SerializeToString())
    worst[name] = 0.0
    for shape in [(1, 8, 8, 3), (2, 13, 10, 3)]:
        x = rng.random(shape, np.float32)
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        want = np.asarray(f(x))
        assert got.shape == want.shape, name
        worst[name] = max(worst[name], float(np.abs(got - want).max()))
print(worst)
assert max(worst.values()) <= 1e-4, worst
"""


@pytest.mark.slow
def test_onnx_converts_the_ops_that_trip_converters(export_env):
    """Reflect padding, instance norm and nearest up-sampling, converted alone with symbolic sizes."""
    import styljax

    root = str(Path(styljax.__file__).resolve().parent.parent)
    proc = subprocess.run([str(ex._env_python(export_env)), "-c", ONNX_OPS, root], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_texture_net_min_side_follows_its_scales(models, tmp_path, capsys):
    """A texture net of 5 scales pads to multiples of 16 and needs 2 px at its coarsest scale: its
    artefacts take sides from 17 px (the registry's 16 is its floor for fewer scales)."""
    from styljax.nets import transform as tr
    from styljax.nets.texture_net import TextureNetConfig
    from styljax.stores import texture_store

    model = tmp_path / "tn5"
    texture_store.STORE.save_model(model, tr.init(jax.random.key(0), TextureNetConfig(), ["a"]), TextureNetConfig(),
                                   {"method": "texture-net"})
    rc = export_cli("--method", "texture-net", "--model", str(model), "--style", "a", "--format", "stablehlo",
                    "--out", str(tmp_path / "t.shlo"), "--height", "16", "--platforms", "cpu")
    err = capsys.readouterr().err
    assert rc == 2 and "--height 16: a texture network model takes sides of at least 17 px" in err
    assert export_cli("--method", "texture-net", "--model", str(models["texture-net"]), "--style", "red",
                      "--format", "stablehlo", "--out", str(tmp_path / "t3.shlo"), "--height", "16",
                      "--platforms", "cpu") == 0
    assert ex.read_sidecar(tmp_path / "t3.shlo")["sizes"]["min_side"] == 16


@pytest.mark.parametrize("method, style", [("stylebank", "red"), ("cin", "red"), ("texture-net", "red"),
                                           ("arbitrary", "dots")])
def test_symbolic_sizes_keep_the_fast_conv_forms(models, method, style):
    """Every conv of an exported program is a padded one, as on the JAX path: the net pads its sides
    to a known multiple, so the layers' fast forms stay provable under symbolic sizes. (With the
    reference forms, unpadded VALID convs, a deserialized CIN ran ~5x slower than the JAX path on
    XLA:CPU: `bench/export_forms.py`.)"""
    from jax import export

    from styljax.nets import layers

    req = ex.Request(method, str(models[method]), style, "stablehlo", "-")
    m, r, _, programs = ex.load(req)

    def convs(fast: bool) -> list[str]:
        """The k > 1 convs (a 1x1 conv needs no padding on any path)."""
        specs = ex.input_specs(programs[0], req, ex.min_side(m, r))  # new symbols: no cached trace
        with layers.symbolic_fast_forms(fast):
            exp = export.export(jax.jit(programs[0].fn), platforms=("cpu",))(*specs)
        return [line for line in exp.mlir_module().splitlines()
                if "stablehlo.convolution" in line and "tensor<1x1x" not in line]

    fast = convs(True)  # what `export_stablehlo` writes
    assert fast and all("pad = " in line for line in fast), [c[-120:] for c in fast if "pad = " not in c]
    assert any("pad = " not in line for line in convs(False))  # the reference forms (ONNX): VALID convs


def test_tflite_without_tensorflow_names_the_extra(tiny_models, tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real(name, *a))
    rc = export_cli("--method", "cin", "--model", str(tiny_models["cin"]), "--style", "red", "--format", "tflite",
                    "--out", str(tmp_path / "m.tflite"))
    err = capsys.readouterr().err
    assert rc == 2 and "`tflite` extra (tensorflow-cpu)" in err and "styljax[tflite]" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "m.tflite").exists()


@pytest.mark.slow
@pytest.mark.parametrize("method, style", [("cin", "red"), ("stylebank", "all")])
def test_tflite_matches_stylize_with_litert_alone(tiny_models, tmp_path, method, style):
    """Optional (the `tflite` extra): jax2tf + TensorFlow's converter, run by the LiteRT interpreter
    alone (no jax, no TensorFlow), at every size and batch."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("ai_edge_litert")
    out = tmp_path / f"{method}.tflite"
    assert export_cli("--method", method, "--model", str(tiny_models[method]), "--style", style,
                      "--format", "tflite", "--out", str(out)) == 0
    names = ex.read_sidecar(out)["styles"]
    inputs, specs = style_cases(names, style)
    got = run_clean("tflite", out, inputs, tmp_path)
    for k, c in enumerate(CASES):
        want = reference(tiny_models[method], method, specs[f"c{k}"], inputs[f"c{k}"][0])
        assert got[f"c{k}"].shape == want.shape == c + (3,)
        assert np.abs(got[f"c{k}"] - want).max() <= TOL, (c, specs[f"c{k}"])


@pytest.mark.slow
def test_tflite_refuses_the_texture_net_in_one_line(models, tmp_path, capsys):
    """TFLite has no uint32 reshape: the texture net's noise (uint32 Threefry) does not convert; the
    converter's error is one line and exit 2, no file."""
    pytest.importorskip("tensorflow")
    rc = export_cli("--method", "texture-net", "--model", str(models["texture-net"]), "--style", "red",
                    "--format", "tflite", "--out", str(tmp_path / "t.tflite"))
    err = capsys.readouterr().err
    assert rc == 2 and "TensorFlow's converter cannot convert this texture-net model" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "t.tflite").exists()
