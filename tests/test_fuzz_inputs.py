"""Property-based input tests (issue #36): every input gets a result or a one-line `StyljaxError`
(a 4xx JSON answer over HTTP), never another exception, a traceback or a 5xx.

- image decoding (`styljax.io.image.decode_bounded`, the service's path, and `load_image`, the CLI's):
  small PNG / JPEG / GIF / WebP files cut at every byte, 16-bit, palette, CMYK, LA, alpha, EXIF
  orientation; byte flips; a header declaring a huge size is refused before any pixel memory
  (tracemalloc's peak stays under a few MB);
- `StyleSpec.parse` on arbitrary text;
- style files and manifests (`styljax.io.store.load_tree`, `load_tree_checked`, `StyleStore.load_model`)
  cut, flipped or replaced by arbitrary bytes and JSON;
- multipart bodies to `/v1/stylize` and the style upload: arbitrary bytes, and mutated valid bodies.

Hypothesis runs derandomized with bounded examples so the default suite stays fast and repeatable.
"""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zlib

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PIL import Image  # noqa: E402

from styljax.io import image, store  # noqa: E402
from styljax.errors import StyljaxError  # noqa: E402

BOUNDED = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                   suppress_health_check=list(HealthCheck))


def _one_line(e: StyljaxError) -> None:
    assert "\n" not in str(e) and str(e), repr(e)


def _encode(pil: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    pil.save(buf, fmt, **kw)
    return buf.getvalue()


def _samples() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray((rng.uniform(size=(12, 16, 3)) * 255).astype(np.uint8))
    rgba = Image.fromarray((rng.uniform(size=(12, 16, 4)) * 255).astype(np.uint8), "RGBA")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90°
    return {
        "png": _encode(rgb, "PNG"),
        "png16": _encode(Image.fromarray((rng.uniform(size=(12, 16)) * 65535).astype(np.uint16)), "PNG"),
        "palette": _encode(rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG"),
        "la": _encode(rgb.convert("LA"), "PNG"),
        "rgba": _encode(rgba, "PNG"),
        "jpeg": _encode(rgb, "JPEG", quality=80),
        "cmyk": _encode(rgb.convert("CMYK"), "JPEG"),
        "exif": _encode(rgb, "JPEG", exif=exif.tobytes()),
        "gif": _encode(rgb.convert("P"), "GIF", save_all=True, append_images=[rgb.convert("P").rotate(90)]),
        "webp": _encode(rgba, "WEBP", quality=70),
    }


SAMPLES = _samples()


def _decode(data: bytes):
    """The service's decoder and the CLI's loader: an array in [0, 1] or a one-line StyljaxError."""
    try:
        out = image.decode_bounded(data, what="image", max_pixels=1 << 20, limit_side=64)
    except StyljaxError as e:
        _one_line(e)
        return None
    assert out.ndim == 3 and out.shape[-1] == 3 and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    return out


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_truncation_decodes_or_fails_in_one_line(kind):
    data = SAMPLES[kind]
    whole = _decode(data)
    assert whole is not None, kind  # the intact file decodes
    if kind == "exif":  # orientation applied: 16 wide x 12 high turned a quarter
        assert whole.shape[:2] == (16, 12)
    for n in range(len(data)):
        _decode(data[:n])


@pytest.mark.parametrize("kind", sorted(SAMPLES))
@BOUNDED
@given(data=st.data())
def test_byte_flips_decode_or_fail_in_one_line(kind, data):
    raw = bytearray(SAMPLES[kind])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    _decode(bytes(raw))


def _png_declaring(w: int, h: int) -> bytes:
    """A PNG whose header declares w x h (its data is a few bytes)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("w, h", [(100_000, 100_000), (2**31 - 1, 2**31 - 1), (1, 50_000_000), (65_535, 65_535)])
def test_huge_declared_size_is_refused_before_pixel_memory(w, h):
    tracemalloc.start()
    try:
        with pytest.raises(StyljaxError) as e:
            image.decode_bounded(_png_declaring(w, h), what="image", max_pixels=24_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _one_line(e.value)
    assert peak < 4 * 2**20, peak  # the budget: no pixel buffer of the declared size


# ------------------------------------------------------------------------------- StyleSpec
STYLES = ["red", "green", "blue", "a.b", "x-1"]
spec_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.tuples(st.sampled_from([*STYLES, "", "all", " red", "nope"]),
                       st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                                 st.text(max_size=5))), max_size=4).map(
        lambda items: ",".join(n if w is None else f"{n}:{w}" for n, w in items)),
)


@BOUNDED
@given(text=spec_text, regions=st.sampled_from([None, 2, 3]))
def test_style_spec_parses_or_fails_in_one_line(text, regions):
    from styljax.render import StyleSpec

    try:
        spec = StyleSpec.parse(text, STYLES, what="--style", regions=regions)
    except StyljaxError as e:
        _one_line(e)
        assert "--style" in str(e)  # names the option it came from
        return
    assert set(spec.names) <= set(STYLES)
    if spec.weights is not None:
        assert all(np.isfinite(w) and w >= 0 for w in spec.weights)


# ------------------------------------------------------------------------------- files
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    import jax

    from styljax.nets import stylebank as sb
    from styljax.stores import stylebank_store

    root = tmp_path_factory.mktemp("fuzz_model")
    cfg = sb.StyleBankConfig(channels=(4, 8, 16), output="sigmoid")
    stylebank_store.save_model(root / "m", sb.init(jax.random.key(0), cfg, ["red", "green"]), cfg, {"method": "stylebank"})
    return root / "m"


@BOUNDED
@given(data=st.data())
def test_style_file_mutations_load_or_fail_in_one_line(model_dir, data, tmp_path_factory):
    from styljax.stores import stylebank_store

    raw = bytearray((model_dir / "banks" / "red.npz").read_bytes())
    how = data.draw(st.sampled_from(["cut", "flip", "bytes"]))
    if how == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 3))):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    else:
        raw = bytearray(data.draw(st.binary(max_size=2000)))
    path = tmp_path_factory.mktemp("bank") / "x.npz"
    path.write_bytes(bytes(raw))
    try:
        store.load_tree(path)
    except StyljaxError as e:
        _one_line(e)
    # the service's bounded reader of uploads
    params, _, _ = stylebank_store.load_model(model_dir, ["red"])
    expected = {k: (np.shape(v), np.float32) for k, v in store.flatten(params["banks"]["red"]).items()}
    try:
        store.load_tree_checked(bytes(raw), expected, what="file")
    except StyljaxError as e:
        _one_line(e)


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)),
                           lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)


@BOUNDED
@given(data=st.data())
def test_manifest_mutations_load_or_fail_in_one_line(model_dir, data, tmp_path_factory):
    import shutil

    from styljax.methods import store_for_model as open_store

    m = tmp_path_factory.mktemp("man") / "m"
    shutil.copytree(model_dir, m)
    manifest = json.loads((m / "manifest.json").read_text())
    how = data.draw(st.sampled_from(["field", "text", "cut"]))
    if how == "field":
        manifest[data.draw(st.sampled_from(sorted(manifest)))] = data.draw(json_values)
        text = json.dumps(manifest)
    elif how == "cut":
        full = json.dumps(manifest)
        text = full[: data.draw(st.integers(0, len(full) - 1))]
    else:
        text = data.draw(st.text(max_size=200))
    (m / "manifest.json").write_text(text)
    try:
        open_store(m).load_model(m)
    except StyljaxError as e:
        _one_line(e)


# ------------------------------------------------------------------------------- multipart
@pytest.fixture(scope="module")
def client(tiny_models):
    from fastapi.testclient import TestClient

    from styljax.infer import serve_app

    with TestClient(serve_app.create_app(serve_app.load_models(tiny_models))) as c:
        yield c


def _multipart(parts: list[tuple[str, str | None, bytes]], boundary: str) -> bytes:
    out = b""
    for name, filename, body in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode("utf-8", "surrogatepass") + body + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def _answer_ok(r) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code >= 400:
        body = r.json()
        assert set(body) == {"error"} and "\n" not in body["error"]
    else:
        assert r.headers["content-type"] in ("image/png", "image/jpeg")


FIELDS = ["image", "style", "model", "size", "mask", "mask_style", "format", "strength", "preserve_colors", "x"]


@BOUNDED
@given(data=st.data())
def test_multipart_bodies_get_an_image_or_4xx_json(client, data):
    boundary = "fuzzboundary"
    png = _encode(Image.fromarray(np.full((20, 24, 3), 128, np.uint8)), "PNG")
    how = data.draw(st.sampled_from(["fields", "raw", "mutated"]))
    if how == "raw":
        body = data.draw(st.binary(max_size=600))
    else:
        parts = []
        for name in data.draw(st.lists(st.sampled_from(FIELDS), max_size=6)):
            value = data.draw(st.one_of(st.sampled_from([b"red", b"green:0.5,blue:0.5", b"0.5", b"64", b"true", b"jpeg", png]),
                                        st.binary(max_size=40)))
            parts.append((name, "f.png" if name in ("image", "mask") else None, value))
        body = _multipart(parts, boundary)
        if how == "mutated" and body:
            raw = bytearray(body)
            for _ in range(data.draw(st.integers(1, 3))):
                raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
            body = bytes(raw)
    r = client.post("/v1/stylize", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    _answer_ok(r)


def test_a_valid_multipart_body_renders(client):
    png = _encode(Image.fromarray(np.full((20, 24, 3), 128, np.uint8)), "PNG")
    body = _multipart([("image", "p.png", png), ("style", None, b"red")], "b0")
    r = client.post("/v1/stylize", content=body, headers={"Content-Type": "multipart/form-data; boundary=b0"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"


@BOUNDED
@given(body=st.binary(max_size=800), name=st.one_of(st.none(), st.text(max_size=20)))
def test_style_upload_bodies_get_4xx_json(client, body, name):
    """Without the admin token every upload is refused (403) before its body is read; the bounded
    reader behind it is fuzzed above (`load_tree_checked`)."""
    parts = [("file", "s.npz", body)] + ([("name", None, name.encode("utf-8", "surrogatepass"))] if name else [])
    r = client.post("/v1/models/stylebank/styles", content=_multipart(parts, "bb"),
                    headers={"Content-Type": "multipart/form-data; boundary=bb"})
    _answer_ok(r)
    assert r.status_code == 403
