"""The HTTP service: dynamic batching, per-request styles/fusion/regions, limits and errors."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
import threading

import numpy as np
import pytest
from PIL import Image

from conftest import live_server
from styljax.infer import serve, serve_app
from styljax.infer.serving import Batcher, Job, Metrics, ServeConfig, as_numpy_tree, batch_bucket, bucket_hw, pad_to
from styljax.nets import stylebank as sb
from styljax.render import StyleSpec


SMALL_BUCKETS = ((64, 64), (128, 128), (256, 256))  # tiny models, small photos: fewer, smaller programs
TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def png(h: int, w: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / 8.0
    img = np.stack([0.5 + 0.4 * np.sin(x + y), 0.5 + 0.4 * np.cos(0.7 * x - y), 0.5 + 0.3 * rng.random((h, w))], -1)
    buf = io.BytesIO()
    Image.fromarray((img * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def flat_png(h: int, w: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (90, 120, 200)).save(buf, "PNG")
    return buf.getvalue()


def decode(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"), np.float32) / 255


@pytest.fixture(scope="module")
def models(tiny_models):
    return serve_app.load_models(tiny_models)


@pytest.fixture(scope="module")
def client(models):
    from fastapi.testclient import TestClient

    app = serve_app.create_app(models, ServeConfig(max_batch=4, max_wait_ms=5, max_upload_bytes=200_000,
                                               max_pixels=300 * 300, max_side=256, buckets=SMALL_BUCKETS,
                                               admin_token=TOKEN))
    with TestClient(app) as c:
        yield c


def post(client, style="red", image=None, **form):
    files = {"image": ("p.png", png(40, 56) if image is None else image, "image/png")}
    if "mask" in form:
        files["mask"] = ("m.png", form.pop("mask"), "image/png")
    return client.post("/v1/stylize", files=files, data={"style": style, **form})


def test_buckets_and_padding():
    assert bucket_hw(40, 56, SMALL_BUCKETS) == (64, 64) and bucket_hw(65, 128, SMALL_BUCKETS) == (128, 128)
    assert bucket_hw(16, 1024, ((1024, 1024), (512, 1024), (256, 256))) == (512, 1024)  # the smallest that holds it
    with pytest.raises(ValueError):
        bucket_hw(300, 40, SMALL_BUCKETS)
    assert [batch_bucket(n, 8) for n in (1, 2, 3, 5, 8)] == [1, 2, 4, 8, 8]
    assert batch_bucket(5, 6) == 6
    x = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    p = pad_to(x, (4, 5), (1, 2))  # (R, H, W) masks
    assert p.shape == (2, 4, 5) and np.array_equal(p[:, :2, :3], x[:, :2, :3]) and p[0, 3, 0] == x[0, 1, 0]
    assert pad_to(np.zeros((3, 5, 3)), (8, 8)).shape == (8, 8, 3)


def test_endpoints_list_styles_and_health(client):
    assert client.get("/healthz").json()["models"]["cin"] == {"method": "cin", "styles": 3}
    listed = {m["name"]: [s["name"] for s in m["styles"]] for m in client.get("/v1/styles").json()["models"]}
    assert listed == {"stylebank": ["blue", "green", "red"], "cin": ["blue", "green", "red"]}
    thumb = client.get("/v1/models/cin/styles/red/thumbnail.jpg")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert decode(thumb.content).shape == (serve_app.THUMB_SIDE, serve_app.THUMB_SIDE, 3)
    assert client.get("/v1/models/cin/styles/nope/thumbnail.jpg").status_code == 404
    assert "<html" in client.get("/").text.lower()


@pytest.mark.parametrize("model", ["stylebank", "cin"])
def test_stylize_matches_the_model(client, models, model):
    """The served result (batched, each image its own style) equals the model run directly."""
    import jax.numpy as jnp

    m = models[model]

    def direct(data, style):
        x = serve_app.decode_upload(data, "p", 10**6)
        return np.asarray(m.render(jnp.asarray(x[None]), StyleSpec((style,)))[style][0])

    photo = png(64, 64)  # a whole bucket: no padding, so exact up to 8-bit rounding
    r = post(client, "green", image=photo, model=model)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    out = decode(r.content)
    assert np.abs(out - direct(photo, "green")).max() <= 0.5 / 255 + 1e-6
    assert np.abs(decode(post(client, "red", image=photo, model=model).content) - out).mean() > 0.01
    # 40×56 is reflect-padded to 64×64: instance-norm statistics shift a little, the size comes back
    small = decode(post(client, "green", model=model).content)
    assert small.shape == (40, 56, 3) and np.abs(small - direct(png(40, 56), "green")).mean() < 0.1
    big = post(client, "green", model=model, size="128")
    assert decode(big.content).shape == (91, 128, 3)


@pytest.mark.parametrize("model", ["stylebank", "cin"])
def test_fusion_and_painted_region(client, model):
    """Painting the right half with blue: the left stays nearer red's result, the right nearer blue's."""
    photo = png(64, 128)
    red, blue = (decode(post(client, s, image=photo, model=model).content) for s in ("red", "blue"))
    half = np.zeros((64, 128), np.uint8)
    half[:, 64:] = 255
    mask = io.BytesIO()
    Image.fromarray(half).save(mask, "PNG")
    r = post(client, "red", image=photo, model=model, mask=mask.getvalue(), mask_style="blue")
    assert r.status_code == 200
    mixed = decode(r.content)

    def dist(a, b, cols):
        return np.abs(a[:, cols] - b[:, cols]).mean()

    left, right = slice(0, 40), slice(88, 128)
    assert dist(mixed, red, left) < 0.8 * dist(mixed, blue, left)
    assert dist(mixed, blue, right) < 0.8 * dist(mixed, red, right)
    fused = decode(post(client, "red:0.5,blue:0.5", image=photo, model=model).content)
    assert np.abs(fused - red).mean() > 0.005 and np.abs(fused - blue).mean() > 0.005


@pytest.mark.parametrize(
    "kwargs, status, words",
    [
        ({"style": "purple"}, 400, "unknown styles"),
        ({"style": "../../etc/passwd"}, 400, "unknown styles"),
        ({"style": "all"}, 400, "not served"),
        ({"style": "red:0,blue:0"}, 400, "sum to > 0"),
        ({"style": "red", "model": "nope"}, 404, "unknown model"),
        ({"style": "red", "size": "4096"}, 400, "size"),
        ({"style": "red", "format": "gif"}, 400, "format"),
        ({"style": "red", "mask_style": "blue"}, 400, "go together"),
        ({"style": "red", "image": b"not an image"}, 400, "not a readable image"),
        ({"style": "red", "image": flat_png(400, 400)}, 413, "pixels"),
        ({"style": "red", "image": b"x" * 300_000}, 413, "larger than"),
    ],
)
def test_bad_requests_get_json_errors(client, kwargs, status, words):
    r = post(client, **kwargs)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]


def test_missing_field_is_422_json(client):
    r = client.post("/v1/stylize", data={"style": "red"})
    assert r.status_code == 422 and "image" in r.json()["error"]


def test_upload_exported_style_without_restart(client, tiny_models, tmp_path):
    from styljax.stores import transform_store

    exported = transform_store.STORE.export_style(tiny_models["cin"], "red", tmp_path / "red.npz")
    data = exported.read_bytes()
    r = client.post("/v1/models/cin/styles", files={"file": ("red.npz", data)}, data={"name": "red-copy"}, headers=ADMIN)
    assert r.status_code == 201 and "red-copy" in r.json()["styles"]
    again = client.post("/v1/models/cin/styles", files={"file": ("red.npz", data)}, headers=ADMIN)  # as "red": taken
    assert again.status_code == 409 and "already has" in again.json()["error"]
    same = decode(post(client, "red-copy", model="cin").content)
    assert np.array_equal(same, decode(post(client, "red", model="cin").content))
    for name, want in (("../evil", "bad style name"), ("x/y", "bad style name")):
        r = client.post("/v1/models/cin/styles", files={"file": ("s.npz", data)}, data={"name": name}, headers=ADMIN)
        assert r.status_code == 400 and want in r.json()["error"]
    # a StyleBank bank is not a CIN style; garbage is not a style at all
    from styljax.stores import stylebank_store

    bank = stylebank_store.STORE.export_style(tiny_models["stylebank"], "red", tmp_path / "bank.npz").read_bytes()
    r = client.post("/v1/models/cin/styles", files={"file": ("bank.npz", bank)}, headers=ADMIN)
    assert r.status_code == 400 and "not an exported style" in r.json()["error"]
    r = client.post("/v1/models/cin/styles", files={"file": ("x.npz", b"junk")}, headers=ADMIN)
    assert r.status_code == 400
    # an admin may remove a style (in memory): it is no longer served
    assert client.delete("/v1/models/cin/styles/red-copy").status_code == 401
    gone = client.delete("/v1/models/cin/styles/red-copy", headers=ADMIN)
    assert gone.status_code == 200 and "red-copy" not in gone.json()["styles"]
    assert post(client, "red-copy", model="cin").status_code == 400


def test_dynamic_batching_groups_same_bucket(models):
    """Jobs of one key arriving together run as one batch; other keys wait for their own."""
    calls = []
    b = Batcher(models, ServeConfig(max_batch=4, max_wait_ms=300, max_side=128, buckets=SMALL_BUCKETS[:2]), Metrics())
    b.precompile(b.plan(regions=[1]), wait=True)  # programs ready: the batches form as the jobs queue
    real = b.run
    b.run = lambda key, batch: calls.append((key, len(batch))) or real(key, batch)
    m = models["cin"]
    params = [as_numpy_tree(m.style_params(StyleSpec(("red",))))]
    # a different size waits between them (the queue must pick the same-key jobs around it)
    jobs = [Job("cin", np.full((40, 40, 3), 0.1 * i, np.float32), params, np.ones((1, 40, 40), np.float32))
            for i in range(5)]
    jobs.insert(1, Job("cin", np.zeros((100, 40, 3), np.float32), params, np.ones((1, 100, 40), np.float32)))
    futures = [b.submit(j) for j in jobs]
    outs = [f.result(timeout=120) for f in futures]
    b.close()
    assert sorted(n for _, n in calls) == [1, 1, 4]
    assert [o.shape for o in outs] == [(40, 40, 3), (100, 40, 3)] + [(40, 40, 3)] * 4
    assert not np.allclose(outs[0], outs[2])  # each job gets its own image back


def test_close_stops_its_threads(models):
    """close() returns once the batching worker and the compiler have stopped (the program being
    compiled is finished, the rest of the plan dropped): a daemon thread left inside an XLA call
    when the interpreter exits aborts it ("terminate called ... FATAL: exception not rethrown")."""
    b = Batcher(models, ServeConfig(max_batch=4, max_side=128, buckets=SMALL_BUCKETS[:2]), Metrics())
    compiling, real = threading.Event(), b._compile
    b._compile = lambda pkey: (compiling.set(), real(pkey))[1]
    b.precompile(b.plan(), wait=False)  # a long list on the compiler
    assert compiling.wait(timeout=60)
    b.close()  # while a program compiles
    assert not b._thread.is_alive() and not b._compiler.is_alive()
    assert b.compile_status()["pending"] > 0  # stopped between programs, not at the end of the list


def test_full_queue_answers_503_and_slow_batch_504(models):
    """With the worker stuck, the queue fills (503); a request past its timeout gets 504; nothing hangs."""
    from fastapi.testclient import TestClient

    gate = threading.Event()
    app = serve_app.create_app(models, ServeConfig(max_batch=1, max_wait_ms=0, queue_size=2, timeout_s=1.5, max_side=64,
                                               buckets=((64, 64),)))
    app.state.batcher.precompile(app.state.batcher.plan(regions=[1]), wait=True)
    real = app.state.batcher.run
    released = []  # per stuck batch: True if the test let it go, False if its wait ran out
    app.state.batcher.run = lambda key, batch: (released.append(gate.wait(60)), real(key, batch))[1]
    with TestClient(app) as c, concurrent.futures.ThreadPoolExecutor(6) as pool:
        codes = sorted(f.result(timeout=60).status_code for f in [pool.submit(post, c, "red") for _ in range(6)])
        gate.set()
        # one running (then timed out), two queued (timed out), the rest turned away at once
        assert codes.count(503) >= 3 and set(codes) <= {503, 504}, codes
        assert post(c, "red").status_code == 200  # and the service goes on
        assert released and all(released)  # every answer above came while the worker was stuck
        app.state.batcher.run = lambda key, batch: 1 / 0  # a failing batch: 500 JSON, the worker survives
        r = post(c, "red")
        assert r.status_code == 500 and "ZeroDivisionError" in r.json()["error"]
        app.state.batcher.run = real
        assert post(c, "red").status_code == 200
        snap = c.get("/metrics").json()
        assert snap["requests"]["503"] == codes.count(503) and snap["queue_depth"] == 0


def test_bounded_load_every_request_answered(tiny_models):
    """A short concurrent burst over real HTTP: every request gets 200 or 503, none lost or hung."""
    import httpx

    app = serve_app.create_app(serve_app.load_models(tiny_models), ServeConfig(max_batch=4, max_wait_ms=10, queue_size=6,
                                                                       max_side=64, buckets=((64, 64),)))
    app.state.batcher.precompile(app.state.batcher.plan(regions=[1]), wait=True)  # as `--warmup start`
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        def one(i):
            files = {"image": ("p.png", png(32, 32 + 8 * (i % 3), i), "image/png")}
            return http.post("/v1/stylize", files=files, data={"style": ["red", "green:1,blue:1"][i % 2]}).status_code

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(one, range(36), timeout=120))
        snap = http.get("/metrics").json()
    assert len(codes) == 36 and set(codes) <= {200, 503} and codes.count(200) >= 6, codes
    assert sum(int(n) * c for n, c in snap["batch_sizes"].items()) == codes.count(200)
    assert max(int(n) for n in snap["batch_sizes"]) > 1  # some requests were batched together
    assert snap["latency_ms"]["n"] == codes.count(200) and snap["latency_ms"]["p99"] >= snap["latency_ms"]["p50"]


def test_warmup_sizes():
    assert serve.parse_warmup("256, 384x256") == [(256, 256), (256, 384)]
    with pytest.raises(Exception, match="WxH"):
        serve.parse_warmup("big")


def test_cli_errors_are_one_line(capsys):
    from styljax.infer.cli import main

    assert main(["serve", "--model", "nonsense"]) == 2
    assert "NAME=DIR" in capsys.readouterr().err
    assert main(["serve", "--model", "x=/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "manifest" in err


def test_serves_the_shipped_models_by_default():
    """`styljax serve` with no --model: checkpoints/stylebank, cin and johnson, from the repo."""
    from fastapi.testclient import TestClient

    paths = serve.parse_models([])
    assert set(paths) == {"stylebank", "cin", "johnson"} and all((p / "manifest.json").is_file() for p in paths.values())
    with TestClient(serve_app.create_app(serve_app.load_models(paths))) as c:
        health = c.get("/healthz").json()["models"]
        # the six paintings (CIN) or starry-night (Johnson); the reserved content-only style stays internal
        assert health["stylebank"]["styles"] >= 6 and health["cin"]["styles"] == 6 and health["johnson"]["method"] == "johnson"
        styles = {m["name"]: [s["name"] for s in m["styles"]] for m in c.get("/v1/styles").json()["models"]}
        assert "starry-night" in styles["cin"] and "identity" not in styles["cin"] and styles["johnson"] == ["starry-night"]


# ---------------------------------------------------------------- strength, colours (issue #19)


@pytest.mark.parametrize("model, mode", [("stylebank", "features"), ("cin", "pixel")])
def test_strength_field(client, models, model, mode):
    """`strength` 1 = the plain result, 0 = the content path (StyleBank's auto-encoder; CIN without
    an identity style: the photo), the mode named in a header."""
    import jax.numpy as jnp

    m = models[model]
    photo = png(64, 64)  # a whole bucket: exact up to 8-bit rounding
    plain = post(client, "green", image=photo, model=model)
    one = post(client, "green", image=photo, model=model, strength="1")
    zero = post(client, "green", image=photo, model=model, strength="0")
    half = post(client, "green", image=photo, model=model, strength="0.5")
    assert all(r.status_code == 200 for r in (plain, one, zero, half))
    assert {r.headers["X-Styljax-Strength-Mode"] for r in (plain, one, zero, half)} == {mode}
    assert one.content == plain.content
    x = serve_app.decode_upload(photo, "p", 10**6)
    content = x if model == "cin" else np.asarray(sb.reconstruct(m.params, jnp.asarray(x[None]), m.cfg, clip=True)[0])
    assert np.abs(decode(zero.content) - content).max() <= 0.5 / 255 + 1e-6
    h = decode(half.content)
    assert np.abs(h - decode(plain.content)).mean() > 0.005 and np.abs(h - content).mean() > 0.005


@pytest.mark.parametrize("value", ["1.5", "-0.1", "abc", "nan", "NaN", "inf", "-inf", "1e999", "0x1"])
def test_bad_strength_is_400_json(client, value):
    r = post(client, strength=value)
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert r.json()["error"].startswith("strength:") and "between 0 and 1" in r.json()["error"]


def test_preserve_colors_field(client):
    from skimage.color import rgb2yiq

    photo = png(64, 64)
    x = rgb2yiq(serve_app.decode_upload(photo, "p", 10**6))
    plain = rgb2yiq(decode(post(client, "green", image=photo).content))
    kept = post(client, "green", image=photo, preserve_colors="true")
    assert kept.status_code == 200
    kept = rgb2yiq(decode(kept.content))
    assert np.abs(kept[..., 1:] - x[..., 1:]).mean() < 0.01 < np.abs(plain[..., 1:] - x[..., 1:]).mean()
    assert np.abs(kept[..., 0] - plain[..., 0]).mean() < 0.01
    same = decode(post(client, "green", image=photo, preserve_colors="false").content)
    assert np.array_equal(same, decode(post(client, "green", image=photo).content))
    r = post(client, preserve_colors="maybe")
    assert r.status_code == 400 and "preserve_colors" in r.json()["error"]


def test_different_strengths_and_colours_batch_together(models):
    """Strength and colours are per image: four requests with different values run as one batch,
    each equal to its own direct render."""
    import jax.numpy as jnp

    calls = []
    b = Batcher(models, ServeConfig(max_batch=4, max_wait_ms=300, max_side=64, buckets=((64, 64),)), Metrics())
    b.precompile(b.plan(regions=[1]), wait=True)
    real = b.run
    b.run = lambda key, batch: calls.append(len(batch)) or real(key, batch)
    m = models["stylebank"]
    spec = StyleSpec(("red",))
    params = [as_numpy_tree(m.style_params(spec))]
    rng = np.random.default_rng(0)
    imgs = [rng.uniform(size=(64, 64, 3)).astype(np.float32) for _ in range(4)]  # a whole bucket: no padding
    choices = [(0.0, False), (0.5, True), (1.0, False), (0.25, False)]
    jobs = [Job("stylebank", im, params, np.ones((1, 64, 64), np.float32), s, c) for im, (s, c) in zip(imgs, choices)]
    outs = [f.result(timeout=120) for f in [b.submit(j) for j in jobs]]
    b.close()
    assert calls == [4]
    for im, (s, c), out in zip(imgs, choices, outs):
        want = m.render(jnp.asarray(im[None]), dataclasses.replace(spec, strength=s, preserve_colors=c))["red"][0]
        np.testing.assert_allclose(out, np.asarray(want), atol=1e-5)


def test_identity_style_switches_to_gamma_beta(tiny_models):
    """A CIN model with the reserved `identity` style: strength interpolates γ/β toward it."""
    from fastapi.testclient import TestClient

    from styljax.nets import transform as tr

    models = serve_app.load_models({"cin": tiny_models["cin"]})
    m = models["cin"]
    identity = jax_tree_numpy(tr.init_style(m.cfg))
    m.params = {**m.params, "styles": {**m.params["styles"], "identity": identity}}
    with TestClient(serve_app.create_app(models, ServeConfig(max_batch=2, max_wait_ms=5, max_side=64,
                                                         buckets=((64, 64),)))) as c:
        photo = png(64, 64)
        zero = post(c, "green", image=photo, model="cin", strength="0")
        assert zero.status_code == 200 and zero.headers["X-Styljax-Strength-Mode"] == "gamma-beta"
        assert post(c, "identity", image=photo, model="cin").status_code == 400  # reserved: not a style to pick
        ident = m.render(decode(photo)[None], StyleSpec(("identity",)))["identity"][0]  # the internal target
        assert np.abs(decode(zero.content) - np.asarray(ident)).max() <= 1 / 255 + 1e-6
        assert post(c, "green", image=photo, model="cin", strength="1").content == post(c, "green", image=photo, model="cin").content


def jax_tree_numpy(tree):
    import jax

    return jax.tree.map(np.asarray, tree)
