"""`styljax serve`: the HTTP service (FastAPI + uvicorn) and its web page.

    GET  /                                   the web page (upload, style sliders, paint a region)
    GET  /healthz                            {"status": "ok", models and style counts}
    GET  /metrics                            queue depth, batch sizes, latency percentiles, counts
    GET  /v1/styles                          every model's styles, each with a thumbnail URL
    GET  /v1/models/{model}/styles/{style}/thumbnail.jpg
    POST /v1/stylize                         multipart: image, style, [model, size, mask, mask_style, format,
                                             strength, preserve_colors]
    POST /v1/models/{model}/styles           multipart: file (a `styljax styles export` .npz), [name]   (admin)
    DELETE /v1/models/{model}/styles/{style}                                                        (admin)

`style` is a style spec as for `styljax stylize`: `NAME` or a fusion `a:0.7,b:0.3`. With `mask`
(an image; white = painted) the painted region takes `mask_style` (another spec) and the rest
`style`: region fusion with soft masks (1 − m, m). `strength` (0-1, default 1) weakens the style
in the model's own way, named by the response header `X-Styljax-Strength-Mode` (features, gamma-beta
or pixel: `styljax.nets.strength`); `preserve_colors=true` keeps the photo's chrominance. Results
come back as PNG or JPEG; every error is JSON `{"error": "..."}` with a 4xx/5xx status (400 bad
input, 401/403 no admin credential, 404, 408 too slow, 409, 413 too large, 415 not a form, 422 a
field missing, 503 busy, 504 timed out) and one log line; `/openapi.json` lists them all
(`styljax.infer.openapi`).
Requests are batched dynamically (`styljax.infer.serving`); with `--engine ray` the same app runs as
Ray Serve replicas batching with `@serve.batch` (`styljax.infer.ray_serve`).

Hostile clients (issue #23): the (admin) endpoints that change styles are off unless the server has
an admin token (`--admin-token[-file]`, `$STYLJAX_ADMIN_TOKEN`) and the request carries it as
`Authorization: Bearer TOKEN`; an uploaded style must have exactly the model's shapes and dtypes
(checked on the npz headers before anything is decompressed), finite plausible values, and at most
`--max-added-styles` are added. Request bodies are counted as they stream in (413 past the cap,
whatever the headers say) and must arrive within `--body-timeout` (408), headers within
`--header-timeout`; image headers are checked before decoding, at most `--max-decodes` images are
decoded at once, and all file work runs off the event loop. Images are padded into a fixed set of
`--buckets` whose programs are compiled off the batching worker (`styljax.infer.serving`).
"""

# no `from __future__ import annotations`: FastAPI reads the endpoints' annotations at definition

import argparse
import asyncio
import contextlib
import ctypes
import dataclasses
import faulthandler
import functools
import hmac
import io
import json
import logging
import os
import signal
import time
import weakref
from pathlib import Path

import numpy as np

from styljax.infer import common, thumbnails
from styljax.errors import StyljaxError, TooLarge

STATIC = Path(__file__).resolve().parent / "static"
THUMB_SIDE = thumbnails.SIDE
TOKEN_ENV = "STYLJAX_ADMIN_TOKEN"
log = logging.getLogger("styljax.serve")


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def default_models() -> dict[str, Path]:
    """The shipped model of every method with a renderer (`styljax.methods`), under its name. The
    fetched ones (`--method arbitrary`'s, in the weights cache) are not served by default: the
    service takes no painting uploads yet, so give them with --model."""
    from styljax import methods

    shipped = {name: methods.get(name).default_model_path() for name in methods.named("renderer")
               if not methods.get(name).default_model_cache}
    return {name: path for name, path in shipped.items() if (path / "manifest.json").is_file()}


def load_models(paths: dict[str, Path]) -> dict:
    """name → Renderer, the method read from each manifest (`styljax.methods.open_renderer`)."""
    from styljax import methods

    return {name: methods.open_renderer(path) for name, path in paths.items()}


def thumbnail_scene(side: int = THUMB_SIDE) -> np.ndarray:
    """The built-in content every style thumbnail stylizes (`styljax.infer.thumbnails.scene`)."""
    return thumbnails.scene(side)


def encode_image(img: np.ndarray, fmt: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    pil = Image.fromarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8))
    if fmt == "png":
        pil.save(buf, "PNG")
    else:
        pil.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def decode_upload(data, what: str, max_pixels: int, **kw) -> np.ndarray:
    """Upload bytes or a binary file → float RGB with bounded memory (`styljax.io.image.decode_bounded`:
    header pixel cap and bomb guard first, 413; not an image, 400)."""
    from styljax.io import image

    if hasattr(data, "seek"):
        data.seek(0)
    try:
        return image.decode_bounded(data, what=what, max_pixels=max_pixels, **kw)
    except TooLarge as e:
        raise ApiError(413, str(e)) from None
    except StyljaxError as e:
        raise ApiError(400, str(e)) from None
    finally:
        trim_heap()


@functools.cache
def _libc():
    return ctypes.CDLL("libc.so.6")


def trim_heap() -> None:
    """Give freed heap pages back to the OS (glibc): a large decode must not leave RSS behind."""
    with contextlib.suppress(OSError, AttributeError):
        _libc().malloc_trim(0)


def parse_bool(value: str | None, field: str) -> bool:
    """A form checkbox: absent, true/false, 1/0, on/off, yes/no (any case); anything else is a 400."""
    if value is None:
        return False
    v = value.strip().lower()
    if v in ("true", "1", "on", "yes"):
        return True
    if v in ("false", "0", "off", "no", ""):
        return False
    raise ApiError(400, f"{field}: true or false, got {value!r}")


def create_app(models: dict, cfg=None, sharding=None, batcher_class=None, prerender_thumbnails: bool = False,
               shared_styles=None):
    """The FastAPI app over `models` (name → Renderer); batching and limits from `cfg` (ServeConfig);
    `batcher_class` (default `serving.Batcher`) swaps the batching (`infer/ray_serve.py`: Ray Serve's).
    `prerender_thumbnails`: render every style's thumbnail in the background at start-up (the
    ones not cached on disk), so the page's first visitor finds them ready.
    `shared_styles`: the record of style changes shared by several copies of this app (Ray Serve
    replicas, `infer/ray_serve.py`): `changes_since(version) -> (version, changes)` and
    `append(version, change) -> new version, or None if another copy changed styles since
    `version` (then this copy pulls and checks again): every copy applies the same changes in the
    same order. `app.state.sync_styles()` applies the others' changes (call it before each
    request). None: this process's memory is the only copy."""
    import threading

    from fastapi import FastAPI, File, Form, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile as FormFile
    from starlette.exceptions import HTTPException

    from styljax.infer.serving import Batcher, Job, Metrics, QueueFull, ServeConfig, as_numpy_tree, two_regions
    from styljax.render import StyleSpec
    from styljax.io import store

    cfg = cfg or ServeConfig()
    if not models:
        raise StyljaxError("serve: no models to serve")
    metrics = Metrics()
    batcher = (batcher_class or Batcher)(models, cfg, metrics, sharding)
    thumbs: dict[tuple[str, str], bytes] = {}
    templates = {name: style_template(m) for name, m in models.items()}  # what an uploaded style must be
    styles_lock = threading.Lock()  # adding and removing styles
    added: set[tuple[str, str]] = set()  # (model, style) added over HTTP and still there
    seen = [0]  # the version of `shared_styles` applied here
    decode_slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop → its semaphore

    @contextlib.asynccontextmanager
    async def lifespan(app):
        task = asyncio.create_task(prerender()) if prerender_thumbnails else None
        yield
        if task is not None:
            task.cancel()
        batcher.close()

    async def prerender():
        for name, m in models.items():
            for style in list(m.styles):
                with contextlib.suppress(Exception):  # a failure here is met again, and answered, on request
                    await thumbnail_bytes(name, m, style)

    app = FastAPI(title="styljax", docs_url="/docs", redoc_url=None, lifespan=lifespan)
    app.state.batcher, app.state.metrics, app.state.models = batcher, metrics, models

    def error(scope, status: int, message: str, headers: dict | None = None) -> JSONResponse:
        """The JSON error answer, counted and logged (one line per rejected request)."""
        metrics.request(status)
        client = scope.get("client") or ("-", 0)
        log.log(logging.ERROR if status >= 500 else logging.WARNING, "%s %s %s -> %d %s", client[0],
                scope.get("method", "-"), scope.get("path", "-"), status, message[:300])
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def _api_error(request, e: ApiError):
        return error(request.scope, e.status, e.message, e.headers)

    @app.exception_handler(StyljaxError)
    async def _styljax_error(request, e: StyljaxError):
        return error(request.scope, 413 if isinstance(e, TooLarge) else 400, str(e))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, e: RequestValidationError):
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return error(request.scope, 422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(HTTPException)
    async def _http(request, e: HTTPException):
        return error(request.scope, e.status_code, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request, e: Exception):  # the catch-all: no traceback to the client
        return error(request.scope, 500, f"internal error ({type(e).__name__})")

    app.add_middleware(BodyGuard, cap=cfg.max_upload_bytes, timeout_s=cfg.body_timeout_s,
                       reject=error)
    from styljax.infer import openapi

    openapi.install(app, list(models), cfg.max_side, reject=error)  # the document is the contract; 415

    def apply_change(change: tuple) -> None:
        """("add", model, name, tree, meta) or ("remove", model, name), made here or by another copy
        (`shared_styles` keeps a name's latest change only: an add replaces what the name held)."""
        kind, model, name = change[:3]
        m = models[model]
        if name in m.styles:
            m.remove_style(name)
        if kind == "add":
            m.add_style(change[3], change[4], name, what="file")
            added.add((model, name))
        else:
            added.discard((model, name))
        thumbs.pop((model, name), None)

    def pull_changes() -> None:  # under styles_lock
        if shared_styles is not None:
            seen[0], changes = shared_styles.changes_since(seen[0])
            for change in changes:
                try:  # the copy that made it checked it against the same model: never expected to fail
                    apply_change(change)
                except StyljaxError as e:
                    log.error("style change %s %s/%s not applied: %s", *change[:3], e)

    def commit(change: tuple) -> bool:
        """Make `change` (under styles_lock, checked against the state `pull_changes` left): False
        when another copy changed styles meanwhile (pull and check again)."""
        if shared_styles is not None:
            version = shared_styles.append(seen[0], change)
            if version is None:
                return False
            seen[0] = version
        apply_change(change)
        return True

    def sync_styles() -> None:
        with styles_lock:
            pull_changes()

    app.state.sync_styles = sync_styles

    def require_admin(request) -> None:
        """State changes need the admin token: 403 when the server has none, 401 without it."""
        if not cfg.admin_token:
            raise ApiError(403, "changing styles is disabled on this server (start it with --admin-token-file)")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), cfg.admin_token.encode()):
            raise ApiError(401, "changing styles needs `Authorization: Bearer TOKEN` with the admin token",
                           {"WWW-Authenticate": "Bearer"})

    def model_of(name: str):
        if name not in models:
            raise ApiError(404, f"unknown model {name!r}; serving: {', '.join(models)}")
        return models[name]

    def region_styles(model, spec_text: str, field: str) -> dict:
        try:
            spec = StyleSpec.parse(spec_text, model.styles, what=field)
        except StyljaxError as e:
            raise ApiError(400, str(e)) from None
        if spec.every:
            raise ApiError(400, f"{field}: 'all' is not served; give one style or a fusion a:0.5,b:0.5")
        try:
            return as_numpy_tree(model.style_params(spec))
        except KeyError:  # removed meanwhile
            raise ApiError(404, f"{field}: unknown style in {spec_text!r}") from None

    async def render(job: Job) -> np.ndarray:
        try:
            fut = batcher.submit(job)
        except QueueFull as e:
            raise ApiError(503, f"busy: {e}; retry later") from None
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), cfg.timeout_s)
        except asyncio.TimeoutError:
            fut.cancel()
            raise ApiError(504, f"timed out after {cfg.timeout_s:g} s") from None
        except Exception as e:  # noqa: BLE001 - this request failed; the worker goes on
            raise ApiError(500, f"rendering failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None

    async def decode(upload, what: str, **kw) -> np.ndarray:
        """An uploaded image decoded off the event loop, at most `max_decodes` at once (503 if no
        slot frees within the request timeout)."""
        loop = asyncio.get_running_loop()
        slots = decode_slots.get(loop)
        if slots is None:
            slots = decode_slots[loop] = asyncio.Semaphore(cfg.max_decodes)
        try:
            await asyncio.wait_for(slots.acquire(), cfg.timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(503, f"busy: {cfg.max_decodes} images decoding; retry later") from None
        try:
            return await run_in_threadpool(decode_upload, upload.file, what, cfg.max_pixels, **kw)
        finally:
            slots.release()

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml",
                            headers={"Cache-Control": "max-age=86400"})

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "models": {n: {"method": m.method, "styles": len(m.styles)} for n, m in models.items()},
                "compiled": batcher.compile_status()}

    @app.get("/metrics")
    def get_metrics():
        return {**metrics.snapshot(), "queue_depth": batcher.depth, "queue_size": cfg.queue_size,
                "max_batch": cfg.max_batch, "max_wait_ms": cfg.max_wait_ms, "compiled": batcher.compile_status(),
                "added_styles": len(added)}

    @app.get("/v1/styles")
    def styles():
        return {"models": [
            {"name": n, "method": m.method,
             "styles": [{"name": s, "thumbnail": f"/v1/models/{n}/styles/{s}/thumbnail.jpg"} for s in m.styles]}
            for n, m in models.items()]}

    @app.get("/v1/models/{model}/styles/{style}/thumbnail.jpg")
    async def thumbnail(model: str, style: str):
        m = model_of(model)
        if style not in m.styles:
            raise ApiError(404, f"model {model!r} has no style {style!r}")
        body = await thumbnail_bytes(model, m, style)
        return Response(body, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    async def thumbnail_bytes(model: str, m, style: str) -> bytes:
        """A style's thumbnail: from memory, else from the disk cache, else rendered (and kept)."""
        if (model, style) in thumbs:
            return thumbs[(model, style)]
        params = await run_in_threadpool(region_styles, m, style, "style")
        k = await run_in_threadpool(thumbnails.key, m, params)
        body = await run_in_threadpool(thumbnails.load, k)
        if body is None:
            scene = thumbnail_scene()
            job = Job(model, scene, [params], np.ones((1,) + scene.shape[:2], np.float32))
            body = await run_in_threadpool(encode_image, await render(job), "jpeg")
            await run_in_threadpool(thumbnails.save, k, body)
        if style in m.styles:
            thumbs[(model, style)] = body
        return body

    @app.post("/v1/stylize", response_class=Response, responses={
        200: {"description": "the stylized image", "content": {"image/png": {}, "image/jpeg": {}}}})
    async def stylize(
        image: UploadFile = File(..., description="the photo"),
        style: str = Form(..., description="NAME or a fusion a:0.7,b:0.3"),
        model: str = Form(next(iter(models))),
        size: int | None = Form(None, description="longest side of the result (default: the photo's, capped)"),
        mask: UploadFile | None = File(None, description="painted region (white) for mask_style"),
        mask_style: str | None = Form(None),
        format: str = Form("png"),
        strength: str | None = Form(None, description="style strength in [0, 1] (default 1)"),
        preserve_colors: str | None = Form(None, description="true: keep the photo's colours"),
    ):
        t0 = time.perf_counter()
        m = model_of(model)
        if format not in ("png", "jpeg"):
            raise ApiError(400, f"format: png or jpeg, got {format!r}")
        try:
            s = common.strength(strength, "strength")
        except StyljaxError as e:
            raise ApiError(400, str(e)) from None
        keep = parse_bool(preserve_colors, "preserve_colors")
        if size is not None and not 16 <= size <= cfg.max_side:
            raise ApiError(400, f"size: between 16 and {cfg.max_side}, got {size}")
        if (mask is None) != (mask_style is None):
            raise ApiError(400, "mask and mask_style go together")
        styles = [await run_in_threadpool(region_styles, m, style, "style")]
        if mask_style is not None:
            styles.append(await run_in_threadpool(region_styles, m, mask_style, "mask_style"))
        if not image.size:
            raise ApiError(400, "image: empty upload")
        # the header is checked before decoding (pixel cap, bombs: 413; not an image: 400)
        side = {"max_side": size} if size else {"limit_side": min(cfg.default_side, cfg.max_side)}
        img = await decode(image, "image", **side)
        if min(img.shape[:2]) < 16:
            raise ApiError(400, f"image: at least 16 px a side after resizing, got {img.shape[1]}×{img.shape[0]}")
        if mask is not None:
            grey = await decode(mask, "mask", size=img.shape[:2])
            masks = two_regions(grey.mean(-1))
        else:
            masks = np.ones((1,) + img.shape[:2], np.float32)
        out = await render(Job(model, img, styles, masks, 1.0 if s is None else s, keep))
        body = await run_in_threadpool(encode_image, out, format)
        dt = time.perf_counter() - t0
        metrics.request(200, dt)
        return Response(body, media_type=f"image/{format}",
                        headers={"X-Latency-Ms": f"{1e3 * dt:.1f}", "X-Styljax-Strength-Mode": m.strength_mode})

    def add_checked(model: str, m, data: bytes, name: str | None) -> dict:
        """Validate an uploaded style against the model (off the event loop), then add it."""
        expected, limit = templates[model]
        try:
            tree, meta = store.load_tree_checked(data, expected, what="file")
        except TooLarge as e:
            raise ApiError(413, str(e)) from None
        except StyljaxError as e:
            raise ApiError(400, str(e)) from None
        check_style_values(tree, limit, "file")
        with styles_lock:
            while True:
                pull_changes()
                try:
                    final = m.store.check_style(meta, m.manifest, "file", f"the {m.method} model", name)
                except StyljaxError as e:
                    raise ApiError(400, str(e)) from None
                if final in m.reserved_styles:
                    raise ApiError(400, f"name: {final!r} is reserved (it sets how strength works); give another name")
                if final in m.styles:
                    raise ApiError(409, f"model {model!r} already has a style {final!r}; give another name")
                if len(added) >= cfg.max_added_styles:
                    raise ApiError(409, f"style limit reached: {cfg.max_added_styles} added while serving; remove one first")
                try:
                    if commit(("add", model, final, tree, meta)):
                        return {"model": model, "name": final, "styles": m.styles}
                except StyljaxError as e:
                    raise ApiError(400, str(e)) from None

    @app.post("/v1/models/{model}/styles", status_code=201, openapi_extra=STYLE_UPLOAD_BODY)
    async def add_style(model: str, request: Request):
        require_admin(request)  # before a byte of the body is read
        m = model_of(model)
        if len(added) >= cfg.max_added_styles:
            raise ApiError(409, f"style limit reached: {cfg.max_added_styles} added while serving; remove one first")
        async with request.form(max_files=1, max_fields=1) as form:
            file, name = form.get("file"), form.get("name")
            if not isinstance(file, FormFile):
                raise ApiError(400, "file: upload a `styljax styles export` .npz as the field `file`")
            if name is not None and not isinstance(name, str):
                raise ApiError(400, "name: a text field")
            data = await file.read()
        result = await run_in_threadpool(add_checked, model, m, data, name or None)
        metrics.request(201)
        return result

    @app.delete("/v1/models/{model}/styles/{style}")
    async def remove_style(model: str, style: str, request: Request):
        require_admin(request)
        m = model_of(model)
        with styles_lock:
            while True:
                pull_changes()
                if style not in m.styles:
                    raise ApiError(404, f"model {model!r} has no style {style!r}")
                if style in m.reserved_styles:
                    raise ApiError(400, f"{style!r} is reserved (it sets how strength works)")
                if len(m.styles) == 1:
                    raise ApiError(409, f"{style!r} is the model's last style")
                if commit(("remove", model, style)):
                    break
        metrics.request(200)
        return {"model": model, "removed": style, "styles": m.styles}

    return app


STYLE_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "a `styljax styles export` .npz"},
                   "name": {"type": "string", "description": "the style's name (default: the file's)"}}}}}}}


def style_template(model) -> tuple[dict, float]:
    """What an uploaded style must be for `model`: {key: (shape, float32)} of its styles' leaves,
    and the largest plausible magnitude (1000× the largest of its own styles, at least 1000)."""
    from styljax.infer.serving import as_numpy_tree
    from styljax.io import store

    styles = model.params[model.styles_key]
    first = store.flatten(as_numpy_tree(styles[model.styles[0]]))
    biggest = max(float(np.abs(a).max()) for s in styles.values() for a in store.flatten(as_numpy_tree(s)).values() if a.size)
    return {k: (a.shape, np.dtype(np.float32)) for k, a in first.items()}, 1e3 * max(1.0, biggest)


def check_style_values(tree: dict, limit: float, what: str) -> None:
    """Finite values of a plausible magnitude, or a 400."""
    from styljax.io import store

    for k, a in store.flatten(tree).items():
        if not np.isfinite(a).all():
            raise ApiError(400, f"{what}: {k!r} holds NaN or infinite values")
        if a.size and float(np.abs(a).max()) > limit:
            raise ApiError(400, f"{what}: {k!r} has values up to {float(np.abs(a).max()):.3g}, over {limit:.3g} "
                                "(1000× the model's own styles): not a style of this model")


CLOSE = {"Connection": "close"}


class BodyGuard:
    """ASGI middleware: counts a request's body bytes as they stream in and stops at `cap` with 413,
    whatever Content-Length or Transfer-Encoding say (a declared length over the cap is refused
    before reading), and gives the whole body `timeout_s` to arrive (408). `reject(scope, status,
    message)` makes the JSON answer. The HTTP exceptions raised inside `receive` reach the app's
    handlers through FastAPI's body parsing; whatever escapes is answered here."""

    def __init__(self, app, cap: int, timeout_s: float, reject):
        self.app, self.cap, self.timeout_s, self.reject = app, cap, timeout_s, reject

    async def __call__(self, scope, receive, send):
        from starlette.exceptions import HTTPException

        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = [v for k, v in scope["headers"] if k == b"content-length"]
        if declared and not all(v.strip().isdigit() for v in declared):
            return await self.reject(scope, 400, "bad Content-Length", CLOSE)(scope, receive, send)
        if declared and max(int(v) for v in declared) > self.cap:
            return await self.reject(scope, 413, f"upload larger than {self.cap} bytes", CLOSE)(scope, receive, send)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        seen, done, started = 0, False, False
        has_body = any(k == b"transfer-encoding" or k == b"content-length" and v.strip() != b"0"
                       for k, v in scope["headers"])

        async def guarded_receive():
            nonlocal seen, done
            if done:  # the body is in: later calls wait for a disconnect, untimed
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise HTTPException(408, f"the request body did not arrive within {self.timeout_s:g} s") from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.cap:
                    raise HTTPException(413, f"upload larger than {self.cap} bytes")
                done = not message.get("more_body", False)
            else:
                done = True
            return message

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if has_body and not done:  # answered before the body was read: do not read the rest
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracked_send)
        except HTTPException as e:
            if started or e.status_code not in (408, 413):
                raise
            await self.reject(scope, e.status_code, str(e.detail), CLOSE)(scope, receive, send)


def guarded_h11(header_timeout_s: float) -> type:
    """uvicorn's h11 protocol with a deadline for each request's headers: uvicorn times out idle
    keep-alive connections but not a client sending its headers a byte at a time (or nothing after
    connecting). Past the deadline the connection gets a 408 JSON answer and is closed. Malformed
    requests get uvicorn's 400 as JSON."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    def raw(status: int, reason: str, message: str) -> bytes:
        body = json.dumps({"error": message}).encode()
        return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\nconnection: close\r\n"
                f"content-length: {len(body)}\r\n\r\n").encode() + body

    class GuardedH11(H11Protocol):
        _header_timer = None

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
                self._arm()  # a new request's headers start arriving
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:
                self._disarm()  # headers complete: the app's body timeout takes over

        def connection_lost(self, exc):
            self._disarm()
            super().connection_lost(exc)

        def _arm(self):
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_timed_out)

        def _disarm(self):
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_timed_out(self):
            self._header_timer = None
            if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
                return
            client = self.client[0] if self.client else "-"
            log.warning("%s - - -> 408 request headers did not arrive within %g s", client, header_timeout_s)
            self.transport.write(raw(408, "Request Timeout", f"request headers did not arrive within {header_timeout_s:g} s"))
            self.transport.close()

        def send_400_response(self, msg: str) -> None:
            log.warning("%s - - -> 400 %s", self.client[0] if self.client else "-", msg)
            self.transport.write(raw(400, "Bad Request", msg))
            self.transport.close()

    return GuardedH11


def uvicorn_config(app, cfg, host: str = "127.0.0.1", port: int = 8000, **kw):
    """uvicorn settings of the service: the guarded h11 protocol (header deadline), keep-alive timeout."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, http=guarded_h11(cfg.header_timeout_s),
                          timeout_keep_alive=cfg.keep_alive_s, log_level="warning", **kw)


# ------------------------------------------------------------------------------------------ CLI


def register(sub) -> None:
    p = sub.add_parser("serve", help="HTTP service with dynamic batching and a web page",
                       description=__doc__.splitlines()[0], formatter_class=common.DefaultsHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    p.add_argument("--model", action="append", default=[], metavar="NAME=DIR",
                   help="serve this model under NAME (repeatable; default: the shipped stylebank, cin, johnson)")
    p.add_argument("--max-batch", type=int, default=None,
                   help="most requests rendered in one batched call (default: on a CPU host the best of 1/2/4 "
                        "measured for the first model at --buckets' 512 px shape, once, cached; 8 elsewhere)")
    p.add_argument("--max-wait-ms", type=float, default=20.0, help="how long a batch waits to fill")
    p.add_argument("--queue-size", type=int, default=64, help="waiting requests before 503")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request before 504")
    p.add_argument("--max-upload-mb", type=float, default=16.0,
                   help="request body cap, counted on the bytes read (413 past it)")
    p.add_argument("--max-pixels", type=int, default=24_000_000, help="of an uploaded image")
    p.add_argument("--max-side", type=int, default=1024, help="of a result")
    p.add_argument("--buckets", default="128,256,384,512,768,1024", metavar="SIZES",
                   help="the only padded shapes compiled (sides or WxH); every image is reflect-padded into "
                        "the smallest that holds it (one must hold --max-side²)")
    p.add_argument("--warmup", default="background", metavar="MODE",
                   help="background: compile every bucket after start, requests' own first; start: all before "
                        "listening; none: on demand; or SIZES (sides or WxH, e.g. 512,256x171) before listening")
    p.add_argument("--max-decodes", type=int, default=2, help="images decoded at once")
    p.add_argument("--max-added-styles", type=int, default=32, help="styles that may be added while serving")
    p.add_argument("--admin-token", default=None, metavar="TOKEN",
                   help=f"enables adding/removing styles for `Authorization: Bearer TOKEN` (also ${TOKEN_ENV})")
    p.add_argument("--admin-token-file", default=None, metavar="PATH", help="the admin token from a file")
    p.add_argument("--body-timeout", type=float, default=60.0, help="seconds to receive a request body (408)")
    p.add_argument("--header-timeout", type=float, default=10.0, help="seconds to receive request headers")
    p.add_argument("--keep-alive", type=float, default=5.0, help="seconds an idle connection stays open")
    p.add_argument("--engine", default="local", choices=("local", "ray"),
                   help="local (this process, the default) or ray: a Ray Serve deployment with @serve.batch "
                        "batching (the optional `ray` extra; infer/ray_serve.py)")
    p.add_argument("--replicas", type=int, default=1, help="--engine ray: replicas of the service")
    p.add_argument("--ray-address", default=None,
                   help="--engine ray: the cluster to join (default: $RAY_ADDRESS, else a local one)")
    p.set_defaults(func=run_serve)


def parse_models(items: list[str]) -> dict[str, Path]:
    from styljax.stores.style_store import check_style_name

    if not items:
        return default_models()
    out = {}
    for it in items:
        name, sep, path = it.partition("=")
        if not sep:
            raise StyljaxError(f"--model: expected NAME=DIR, got {it!r}")
        out[check_style_name(name)] = Path(path)
    return out


def parse_warmup(text: str) -> list[tuple[int, int]]:
    """'256,384x256' -> [(256, 256), (256, 384)]: square sides or WxH sizes, as (H, W)."""
    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        w, _, h = item.partition("x")
        try:
            out.append((int(h or w), int(w)))
        except ValueError:
            raise StyljaxError(f"--warmup: expected SIDE or WxH items, got {item!r}") from None
    return out


def parse_buckets(text: str) -> tuple[tuple[int, int], ...]:
    try:
        return tuple(parse_warmup(text))
    except StyljaxError as e:
        raise StyljaxError(str(e).replace("--warmup", "--buckets")) from None


def warmup(app, mode: str) -> None:
    """Compile the service's programs (`styljax.infer.serving.Batcher.plan`): `background` all after start,
    `start` all now, `none` nothing ahead, or the buckets of these sizes (H, W) now."""
    batcher = app.state.batcher
    if mode == "none":
        return
    if mode in ("background", "start"):
        batcher.precompile(batcher.plan(), wait=mode == "start")
    else:
        sizes = parse_warmup(mode)
        for (h, w) in sizes:
            if max(h, w) > batcher.cfg.max_side:
                raise StyljaxError(f"--warmup: {w}x{h} is over --max-side {batcher.cfg.max_side}")
        batcher.precompile(batcher.plan(sizes, regions=[1]), wait=True)
    if mode != "background":
        print(f"warm: {batcher.compile_status()['programs']} programs compiled", flush=True)


def auto_batch(models: dict, paths: dict, cfg) -> int:
    """--max-batch not given: `infer.batch_policy.auto_max_batch` for the first model at the bucket
    of a default_side² image."""
    from styljax.infer import batch_policy
    from styljax.runtime.buckets import bucket_hw

    name = next(iter(models))
    hw = bucket_hw(cfg.default_side, cfg.default_side, cfg.buckets)
    return batch_policy.auto_max_batch(models[name], paths[name], hw,
                                       log=lambda s: print(f"styljax serve ({name}): {s}", flush=True))


def admin_token(args: argparse.Namespace) -> str | None:
    """--admin-token, else --admin-token-file, else $STYLJAX_ADMIN_TOKEN, else None (no state changes)."""
    if args.admin_token and args.admin_token_file:
        raise StyljaxError("--admin-token and --admin-token-file: give one")
    token = args.admin_token
    if args.admin_token_file:
        try:
            token = Path(args.admin_token_file).read_text().strip()
        except OSError as e:
            raise StyljaxError(f"--admin-token-file: {args.admin_token_file}: {e.strerror or e}") from None
    token = token or os.environ.get(TOKEN_ENV, "").strip() or None
    if token is not None and len(token) < 16:
        raise StyljaxError("admin token: at least 16 characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe())'`)")
    return token


def configure_logging() -> None:
    """Log lines on stderr: styljax's own from INFO up, the libraries' from WARNING up (JAX reports
    at INFO each accelerator it probes and does not find, e.g. `Unable to initialize backend 'tpu'`:
    no news to someone starting the service). Left alone if the host program set up logging."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("styljax").setLevel(logging.INFO)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from styljax.infer.batch_policy import DEFAULT_MAX_BATCH
    from styljax.infer.serving import ServeConfig
    from styljax.runtime import parallel

    if args.warmup not in ("background", "start", "none"):
        parse_warmup(args.warmup)  # a bad list fails before the models load
    try:
        max_batch = DEFAULT_MAX_BATCH if args.max_batch is None else args.max_batch  # None: measured below
        cfg = ServeConfig(max_batch=max_batch, max_wait_ms=args.max_wait_ms, queue_size=args.queue_size,
                          timeout_s=args.timeout, max_upload_bytes=int(args.max_upload_mb * 2**20),
                          max_pixels=args.max_pixels, max_side=args.max_side, buckets=parse_buckets(args.buckets),
                          max_decodes=args.max_decodes, max_added_styles=args.max_added_styles,
                          body_timeout_s=args.body_timeout, header_timeout_s=args.header_timeout,
                          keep_alive_s=args.keep_alive, admin_token=admin_token(args))
    except ValueError as e:
        raise StyljaxError(str(e)) from None
    configure_logging()
    paths = parse_models(args.model)
    if getattr(args, "engine", "local") == "ray":  # Ray Serve replicas load the models themselves
        if args.replicas < 1:
            raise StyljaxError("--replicas must be at least 1")
        try:
            from styljax.infer import ray_serve
        except ImportError:
            raise StyljaxError("--engine ray needs Ray Serve: pip install 'styljax[ray]'") from None
        return ray_serve.run(args, paths, cfg)
    models = load_models(paths)
    if args.max_batch is None:
        cfg = dataclasses.replace(cfg, max_batch=auto_batch(models, paths, cfg))
    app = create_app(models, cfg, sharding=parallel.local_batch_sharding(), prerender_thumbnails=True)
    warmup(app, args.warmup)
    print(f"styljax serve: http://{args.host}:{args.port}/  models: "
          + ", ".join(f"{n} ({len(m.styles)} styles)" for n, m in models.items())
          + f"; adding styles {'needs the admin token' if cfg.admin_token else 'is off'}", flush=True)
    with contextlib.suppress(io.UnsupportedOperation, AttributeError, ValueError):  # no real stderr: skip
        faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints every thread's stack
    uvicorn.Server(uvicorn_config(app, cfg, args.host, args.port)).run()
    return 0
