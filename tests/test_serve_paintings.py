"""`POST /v1/stylize` with a painting as the style (`style_image`, issue #33 item 5): served by the
arbitrary-style model next to a named-style one, the painting's style predicted once per content
(an LRU by SHA-256), bad paintings answered 4xx JSON without touching other clients' requests,
the body cap counted on bytes read. Tiny random models (conftest), small buckets."""

from __future__ import annotations

import concurrent.futures
import io

import numpy as np
import pytest
from PIL import Image

from bench.serve_hostile import png_header
from styljax.infer import paintings, serve, serve_app
from styljax.infer.serving import ServeConfig

BUCKETS = ((64, 64),)
CFG = dict(max_batch=1, max_wait_ms=5, max_side=64, buckets=BUCKETS, max_upload_bytes=300_000)  # one program per model and region count


def png(h: int, w: int, seed: int = 0, blocks: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    img = np.kron(rng.uniform(size=(h // blocks, w // blocks, 3)), np.ones((blocks, blocks, 1)))
    buf = io.BytesIO()
    Image.fromarray((img * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def decode(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"), np.float32) / 255


PHOTO = png(40, 56, seed=1)
PAINT_A, PAINT_B = png(48, 64, seed=2, blocks=8), png(60, 40, seed=3)


@pytest.fixture(scope="module")
def app(tiny_models, tiny_arbitrary):
    models = serve_app.load_models({"cin": tiny_models["cin"], "arbitrary": tiny_arbitrary})
    app = serve_app.create_app(models, ServeConfig(**CFG))
    yield app
    app.state.batcher.close()


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def stylize(client, painting: bytes | None = None, **form):
    files = {"image": ("p.png", form.pop("image", PHOTO), "image/png")}
    if painting is not None:
        files["style_image"] = ("painting.png", painting, "image/png")
    return client.post("/v1/stylize", files=files, data={"model": "arbitrary", **form})


def test_paintings_are_styles_and_kept_by_content(app, client):
    listed = {m["name"]: (m["style_image"], [s["name"] for s in m["styles"]])
              for m in client.get("/v1/styles").json()["models"]}
    assert listed == {"cin": (False, ["blue", "green", "red"]), "arbitrary": (True, [])}
    cache = app.state.service.paintings
    a = stylize(client, PAINT_A)
    assert a.status_code == 200, a.text
    assert a.headers["content-type"] == "image/png" and a.headers["x-styljax-strength-mode"] == "style-vector"
    assert decode(a.content).shape == (40, 56, 3)
    assert (len(cache), cache.misses, cache.hits) == (1, 1, 0)
    again = stylize(client, PAINT_A)  # the same bytes: not decoded or predicted again, the same answer
    assert again.status_code == 200 and again.content == a.content
    assert (len(cache), cache.hits) == (1, 1)
    b = stylize(client, PAINT_B)
    assert b.status_code == 200 and len(cache) == 2
    assert np.abs(decode(a.content) - decode(b.content)).mean() > 0.01  # another painting, another style
    half = stylize(client, PAINT_A, strength="0.3")  # toward the photo's own style vector
    assert half.status_code == 200 and np.abs(decode(half.content) - decode(a.content)).mean() > 0.005


def test_painting_with_a_painted_region_of_a_stored_style(tiny_arbitrary, tmp_path):
    """style_image for the unpainted region, a stored style (`add-style`) for the painted one."""
    import shutil

    from fastapi.testclient import TestClient

    from styljax.stores import arbitrary_store

    d = tmp_path / "arb"
    shutil.copytree(tiny_arbitrary, d)
    _, cfg, manifest = arbitrary_store.STORE.load_model(d)
    arbitrary_store.STORE._save_style(d, "stored", {"vector": np.full(100, 0.5, np.float32)}, manifest["net_sha256"], cfg)
    app = serve_app.create_app(serve_app.load_models({"arbitrary": d}), ServeConfig(**CFG))
    mask = np.zeros((40, 56), np.uint8)
    mask[:, 28:] = 255
    buf = io.BytesIO()
    Image.fromarray(mask).save(buf, "PNG")
    with TestClient(app) as c:
        painting = stylize(c, PAINT_A)
        stored = c.post("/v1/stylize", files={"image": ("p.png", PHOTO)}, data={"style": "stored"})
        files = {"image": ("p.png", PHOTO), "style_image": ("a.png", PAINT_A), "mask": ("m.png", buf.getvalue())}
        split = c.post("/v1/stylize", files=files, data={"mask_style": "stored"})
        assert painting.status_code == stored.status_code == split.status_code == 200, split.text
    split, painting, stored = decode(split.content), decode(painting.content), decode(stored.content)

    def dist(a, b, cols):
        return np.abs(a - b)[:, cols].mean()

    left, right = slice(0, 24), slice(32, 56)  # (the norms' statistics are the whole image's: not equal)
    assert dist(split, painting, left) < dist(split, stored, left)  # the painting's style left
    assert dist(split, stored, right) < dist(split, painting, right)  # the stored one right


def bad_cases():
    buf = io.BytesIO()
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(buf, "PNG")
    return [
        ("not an image", dict(painting=b"this is not an image\n"), 400, "not a readable image"),
        ("1x1", dict(painting=buf.getvalue()), 400, "at least 16 px"),
        ("100 MP", dict(painting=png_header(10_000, 10_000)), 413, "pixels"),
        ("truncated", dict(painting=PAINT_A[: len(PAINT_A) // 2]), 400, "style_image"),
        ("empty", dict(painting=b""), 400, "empty"),
        ("named-style model", dict(painting=PAINT_A, model="cin"), 400, "takes named styles only"),
        ("both", dict(painting=PAINT_A, style="red"), 400, "give one"),
        ("neither", dict(), 422, "style"),
    ]


@pytest.mark.parametrize("case, kw, status, words", bad_cases(), ids=[c[0] for c in bad_cases()])
def test_bad_paintings_are_4xx_json(client, case, kw, status, words):
    r = stylize(client, **kw)
    assert r.status_code == status and r.headers["content-type"] == "application/json", (case, r.status_code, r.text)
    assert words in r.json()["error"]


def test_bad_paintings_leave_other_requests_alone(app, client):
    """Good and bad paintings at once: every good request is answered 200, every bad one 4xx, and
    nothing bad is kept."""
    cache = app.state.service.paintings
    kept = len(cache)
    bad = [b"junk", png_header(10_000, 10_000), PAINT_B[:200]]
    jobs = [("good", png(32, 32, seed=10 + i)) for i in range(4)] + [("bad", b) for b in bad]
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(lambda job: (job[0], stylize(client, job[1]).status_code), jobs))
    assert [code for kind, code in answers if kind == "good"] == [200] * 4
    assert all(400 <= code < 500 for kind, code in answers if kind == "bad"), answers
    assert len(cache) == kept + 4


def test_painting_body_is_capped_on_bytes_read(app):
    """A painting larger than the body cap, sent chunked under a small Content-Length: 413, and
    the app stops reading at the cap."""
    from test_serve_hostile import asgi_post

    def chunks():
        yield b'--B\r\nContent-Disposition: form-data; name="model"\r\n\r\narbitrary\r\n'
        yield b'--B\r\nContent-Disposition: form-data; name="style_image"; filename="a.png"\r\n\r\n'
        for _ in range(64):
            yield b"x" * (1 << 16)

    status, body, pulled = asgi_post(app, "/v1/stylize", chunks(), {
        "content-type": "multipart/form-data; boundary=B", "content-length": "100", "transfer-encoding": "chunked"})
    assert status == 413 and "larger than" in body["error"]
    assert pulled <= CFG["max_upload_bytes"] + (1 << 16)


def test_style_cache_is_a_bounded_lru():
    cache = paintings.StyleCache(size=2)
    cache.put(("m", "a"), 1)
    cache.put(("m", "b"), 2)
    assert cache.get(("m", "a")) == 1  # a is now the newest
    cache.put(("m", "c"), 3)
    assert cache.get(("m", "b")) is None and cache.get(("m", "a")) == 1 and len(cache) == 2
    assert (cache.hits, cache.misses) == (2, 1)


def test_predictor_input_is_the_central_square():
    img = np.zeros((40, 100, 3), np.float32)
    img[:, 30:70] = 1.0  # the central 40x40 square
    out = paintings.predictor_input(img, 16)
    assert out.shape == (16, 16, 3) and out.min() > 0.98


def test_fetched_arbitrary_model_is_served_by_default(tiny_arbitrary, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("STYLJAX_CACHE", str(tmp_path))
    assert "arbitrary" not in serve.default_models()  # not fetched: left out, no error
    shutil.copytree(tiny_arbitrary, tmp_path / "magenta-arbitrary")
    assert serve.default_models()["arbitrary"] == tmp_path / "magenta-arbitrary"
    assert serve.parse_models(["art=magenta-arbitrary"]) == {"art": tmp_path / "magenta-arbitrary"}


def test_document_has_the_painting_field(client):
    doc = client.get("/openapi.json").json()
    body = doc["paths"]["/v1/stylize"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    if "$ref" in body:
        body = doc["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert body["properties"]["style_image"]["format"] == "binary"
    assert "style" not in body.get("required", []) and "image" in body["required"]
    assert body["anyOf"] == [{"required": ["style"]}, {"required": ["style_image"]}]
