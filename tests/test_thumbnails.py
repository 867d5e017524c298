"""The service's style thumbnails (issue #34: grey squares while the page loads): small, rendered in
the background when the server starts, kept on disk so a restarted server answers at once without
rendering, keyed so that a changed style gets a new one; and the page's icon is served."""

from __future__ import annotations

import time

import numpy as np
from fastapi.testclient import TestClient

from styljax.infer import serve_app, thumbnails
from styljax.infer.serving import ServeConfig

CFG = ServeConfig(max_batch=1, max_wait_ms=1)


def cached(models) -> set[str]:
    keys = set()
    for m in models.values():
        for s in m.styles:
            keys.add(thumbnails.key(m, m.params[m.styles_key][s]))
    return keys


def test_prerendered_then_served_from_disk_without_rendering(tiny_models):
    models = serve_app.load_models({"cin": tiny_models["cin"]})
    want = cached(models)
    folder = thumbnails.cache_dir()
    for k in want:
        (folder / f"{k}.jpg").unlink(missing_ok=True)
    with TestClient(serve_app.create_app(models, CFG, prerender_thumbnails=True)):  # start-up renders them
        deadline = time.monotonic() + 120
        while not all((folder / f"{k}.jpg").is_file() for k in want):
            assert time.monotonic() < deadline, "thumbnails were not prerendered"
            time.sleep(0.2)
    first = {k: (folder / f"{k}.jpg").read_bytes() for k in want}

    # a restarted server: every thumbnail from disk, nothing submitted to the batcher
    app = serve_app.create_app(serve_app.load_models({"cin": tiny_models["cin"]}), CFG)

    def no_render(job):
        raise AssertionError("a cached thumbnail was rendered again")

    app.state.batcher.submit = no_render
    with TestClient(app) as c:
        for style in ("red", "green", "blue"):
            r = c.get(f"/v1/models/cin/styles/{style}/thumbnail.jpg")
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
            assert r.content in first.values() and len(r.content) < 12_000
            assert serve_app.decode_upload(r.content, "thumb", 10**6).shape == (thumbnails.SIDE, thumbnails.SIDE, 3)


def test_key_follows_the_style_and_the_body(tiny_models):
    m = serve_app.load_models({"cin": tiny_models["cin"]})["cin"]
    red, green = m.params["styles"]["red"], m.params["styles"]["green"]
    assert thumbnails.key(m, red) == thumbnails.key(m, red)
    assert thumbnails.key(m, red) != thumbnails.key(m, green)
    import jax

    assert thumbnails.key(m, jax.tree.map(lambda a: np.asarray(a) + 1e-3, red)) != thumbnails.key(m, red)
    other = serve_app.load_models({"sb": tiny_models["stylebank"]})["sb"]
    assert thumbnails.key(other, other.params["banks"]["red"]) != thumbnails.key(m, red)


def test_favicon_is_served(tiny_models):
    with TestClient(serve_app.create_app(serve_app.load_models({"cin": tiny_models["cin"]}), CFG)) as c:
        r = c.get("/favicon.ico")
        assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
        assert r.content.startswith(b"<svg") and "favicon.ico" not in c.get("/openapi.json").text
