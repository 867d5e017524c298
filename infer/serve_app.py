"""The service's FastAPI app (`styljax serve`; the CLI is `styljax.infer.serve`):

    GET  /                                   the web page (upload, style sliders, paint a region)
    GET  /healthz                            {"status": "ok", models and style counts}
    GET  /metrics                            queue depth, batch sizes, latency percentiles, counts
    GET  /v1/styles                          every model's styles, each with a thumbnail URL
    GET  /v1/models/{model}/styles/{style}/thumbnail.jpg
    POST /v1/stylize                         multipart: image, style or style_image, [model, size, mask,
                                             mask_style, format, strength, preserve_colors]
    POST /v1/models/{model}/styles           multipart: file (a `styljax styles export` .npz), [name]   (admin)
    DELETE /v1/models/{model}/styles/{style}                                                        (admin)

`style` is a style spec as for `styljax stylize`: `NAME` or a fusion `a:0.7,b:0.3`. A model that
takes paintings (the arbitrary-style model: `"style_image": true` in /v1/styles) takes instead a
painting file as `style_image`: its style is predicted once per content and kept (an LRU by SHA-256,
`styljax.infer.paintings`); it is decoded under the photos' limits. With `mask`
(an image; white = painted) the painted region takes `mask_style` (another spec) and the rest
`style`: region fusion with soft masks (1 − m, m). `strength` (0-1, default 1) weakens the style
in the model's own way, named by the response header `X-Styljax-Strength-Mode` (features, gamma-beta,
pixel or style-vector: `styljax.nets.strength`); `preserve_colors=true` keeps the photo's chrominance. Results
come back as PNG or JPEG; every error is JSON `{"error": "..."}` with a 4xx/5xx status (400 bad
input, 401/403 no admin credential, 404, 408 too slow, 409, 413 too large, 415 not a form, 422 a
field missing, 503 busy, 504 timed out) and one log line; `/openapi.json` lists them all
(`styljax.infer.openapi`).
Requests are batched dynamically (`styljax.infer.serving`); with `--engine ray` the same app runs as
Ray Serve replicas batching with `@serve.batch`, their style changes kept alike through a shared
record (`create_app`'s `shared_styles`; `styljax.infer.ray_serve`).

Hostile clients (issue #23): the (admin) endpoints that change styles are off unless the server has
an admin token (`--admin-token[-file]`, `$STYLJAX_ADMIN_TOKEN`) and the request carries it as
`Authorization: Bearer TOKEN`; an uploaded style must have exactly the model's shapes and dtypes
(checked on the npz headers before anything is decompressed), finite plausible values, and at most
`--max-added-styles` are added. Request bodies are counted as they stream in (413 past the cap,
whatever the headers say) and must arrive within `--body-timeout` (408), headers within
`--header-timeout` (`styljax.infer.transport_guard`); image headers are checked before decoding, at
most `--max-decodes` images are decoded at once, and all file work runs off the event loop. Images
are padded into a fixed set of `--buckets` whose programs are compiled off the batching worker
(`styljax.infer.serving`).

`create_app` builds a `Service` (the state the routes share) and adds the routes group by group.
"""

# no `from __future__ import annotations`: FastAPI reads the endpoints' annotations at definition

import asyncio
import contextlib
import ctypes
import functools
import hmac
import io
import logging
import threading
import time
import weakref
from pathlib import Path

import numpy as np

from styljax.errors import StyljaxError, TooLarge
from styljax.infer import common, paintings, thumbnails

STATIC = Path(__file__).resolve().parent / "static"
THUMB_SIDE = thumbnails.SIDE
log = logging.getLogger("styljax.serve")


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


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


def style_template(model) -> tuple[dict, float]:
    """What an uploaded style must be for `model`: {key: (shape, float32)} of its styles' leaves,
    and the largest plausible magnitude (1000× the largest of its own styles, at least 1000)."""
    from styljax.infer.serving import as_numpy_tree, style_example
    from styljax.io import store

    styles = model.params[model.styles_key]
    first = store.flatten(style_example(model))
    biggest = max((float(np.abs(a).max()) for s in styles.values() for a in store.flatten(as_numpy_tree(s)).values()
                   if a.size), default=0.0)
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


STYLE_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "a `styljax styles export` .npz"},
                   "name": {"type": "string", "description": "the style's name (default: the file's)"}}}}}}}


class Service:
    """What the routes share: the models (name → Renderer), the limits (`ServeConfig`), the batcher
    and its metrics, the thumbnails made so far, the styles added over HTTP (and the record of style
    changes shared with other copies of the app, `shared_styles`: see `create_app`), the decode
    slots, the uploaded paintings' styles."""

    def __init__(self, models: dict, cfg, batcher, metrics, shared_styles=None):
        self.models, self.cfg, self.batcher, self.metrics = models, cfg, batcher, metrics
        self.shared_styles = shared_styles
        self.styles_seen = 0  # the version of `shared_styles` applied here
        self.thumbs: dict[tuple[str, str], bytes] = {}
        self.templates = {name: style_template(m) for name, m in models.items()}  # what an uploaded style must be
        self.styles_lock = threading.Lock()  # adding and removing styles
        self.added: set[tuple[str, str]] = set()  # (model, style) added over HTTP and still there
        self.decode_slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop → its semaphore
        self.paintings = paintings.StyleCache()  # (model, file digest) → style params
        self.warming: list[threading.Thread] = []  # warm-up threads, joined when the app stops

    def error(self, scope, status: int, message: str, headers: dict | None = None):
        """The JSON error answer, counted and logged (one line per rejected request)."""
        from fastapi.responses import JSONResponse

        self.metrics.request(status)
        client = scope.get("client") or ("-", 0)
        log.log(logging.ERROR if status >= 500 else logging.WARNING, "%s %s %s -> %d %s", client[0],
                scope.get("method", "-"), scope.get("path", "-"), status, message[:300])
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    def require_admin(self, request) -> None:
        """State changes need the admin token: 403 when the server has none, 401 without it."""
        token = self.cfg.admin_token
        if not token:
            raise ApiError(403, "changing styles is disabled on this server (start it with --admin-token-file)")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise ApiError(401, "changing styles needs `Authorization: Bearer TOKEN` with the admin token",
                           {"WWW-Authenticate": "Bearer"})

    def model_of(self, name: str):
        if name not in self.models:
            raise ApiError(404, f"unknown model {name!r}; serving: {', '.join(self.models)}")
        return self.models[name]

    def region_styles(self, model, spec_text: str, field: str) -> dict:
        from styljax.infer.serving import as_numpy_tree
        from styljax.render import StyleSpec

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

    async def render(self, job) -> np.ndarray:
        from styljax.infer.serving import QueueFull

        try:
            fut = self.batcher.submit(job)
        except QueueFull as e:
            raise ApiError(503, f"busy: {e}; retry later") from None
        timeout = self.cfg.timeout_s
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        except asyncio.TimeoutError:
            fut.cancel()
            raise ApiError(504, f"timed out after {timeout:g} s") from None
        except Exception as e:  # noqa: BLE001 - this request failed; the worker goes on
            raise ApiError(500, f"rendering failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None

    async def off_loop(self, fn, *args, **kw):
        """`fn(*args, **kw)` (decoding an upload, predicting a painting's style) off the event loop, at
        most `max_decodes` at once (503 if no slot frees within the request timeout)."""
        from starlette.concurrency import run_in_threadpool

        loop = asyncio.get_running_loop()
        slots = self.decode_slots.get(loop)
        if slots is None:
            slots = self.decode_slots[loop] = asyncio.Semaphore(self.cfg.max_decodes)
        try:
            await asyncio.wait_for(slots.acquire(), self.cfg.timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(503, f"busy: {self.cfg.max_decodes} images decoding; retry later") from None
        try:
            return await run_in_threadpool(fn, *args, **kw)
        finally:
            slots.release()

    async def decode(self, upload, what: str, **kw) -> np.ndarray:
        """An uploaded image decoded off the event loop (`off_loop`)."""
        return await self.off_loop(decode_upload, upload.file, what, self.cfg.max_pixels, **kw)

    def painting_style(self, name: str, m, file) -> dict:
        """The style params (numpy) of an uploaded painting for model `name` (off the event loop):
        kept by content, else decoded with the photos' limits (400 not an image or under 16 px a
        side, 413 over the pixel cap or a bomb) and predicted (`styljax.infer.paintings`)."""
        import jax

        from styljax.infer.serving import as_numpy_tree
        from styljax.io.image import MIN_SIDE

        key = (name, paintings.digest(file))
        style = self.paintings.get(key)
        if style is not None:
            return style
        side = m.painting_side
        img = decode_upload(file, "style_image", self.cfg.max_pixels, limit_side=paintings.DECODE_SIDES * side)
        if min(img.shape[:2]) < MIN_SIDE:
            raise ApiError(400, f"style_image: at least {MIN_SIDE} px a side (decoded at most "
                                f"{paintings.DECODE_SIDES * side} px long), got {img.shape[1]}×{img.shape[0]}")
        style = as_numpy_tree(m.painting_style(paintings.predictor_input(img, side)))
        if not all(np.isfinite(a).all() for a in jax.tree.leaves(style)):
            raise ApiError(400, "style_image: its predicted style is not finite")
        return self.paintings.put(key, style)

    def warm_paintings_in_background(self) -> threading.Thread:
        """`warm_paintings` on a thread of its own, joined when the app stops (as the batcher's:
        a thread left inside an XLA call at interpreter exit aborts the process)."""
        thread = threading.Thread(target=self.warm_paintings, name="styljax-paintings", daemon=True)
        self.warming.append(thread)
        thread.start()
        return thread

    def warm_paintings(self) -> None:
        """Compile the painting predictor of every model that takes paintings (one program each)."""
        import jax

        from styljax.infer.serving import takes_paintings

        for m in self.models.values():
            if takes_paintings(m):
                with contextlib.suppress(Exception):  # met again, and answered, on request
                    side = m.painting_side
                    jax.block_until_ready(m.painting_style(np.zeros((side, side, 3), np.float32)))

    async def thumbnail_bytes(self, model: str, m, style: str) -> bytes:
        """A style's thumbnail: from memory, else from the disk cache, else rendered (and kept)."""
        from starlette.concurrency import run_in_threadpool

        from styljax.infer.serving import Job

        if (model, style) in self.thumbs:
            return self.thumbs[(model, style)]
        params = await run_in_threadpool(self.region_styles, m, style, "style")
        k = await run_in_threadpool(thumbnails.key, m, params)
        body = await run_in_threadpool(thumbnails.load, k)
        if body is None:
            scene = thumbnail_scene()
            job = Job(model, scene, [params], np.ones((1,) + scene.shape[:2], np.float32))
            body = await run_in_threadpool(encode_image, await self.render(job), "jpeg")
            await run_in_threadpool(thumbnails.save, k, body)
        if style in m.styles:
            self.thumbs[(model, style)] = body
        return body

    async def prerender(self) -> None:
        for name, m in self.models.items():
            for style in list(m.styles):
                with contextlib.suppress(Exception):  # a failure here is met again, and answered, on request
                    await self.thumbnail_bytes(name, m, style)

    # ------------------------------------------------------------------ style changes

    def apply_change(self, change: tuple) -> None:
        """("add", model, name, tree, meta) or ("remove", model, name), made here or by another copy
        (`shared_styles` keeps a name's latest change only: an add replaces what the name held)."""
        kind, model, name = change[:3]
        m = self.models[model]
        if name in m.styles:
            m.remove_style(name)
        if kind == "add":
            m.add_style(change[3], change[4], name, what="file")
            self.added.add((model, name))
        else:
            self.added.discard((model, name))
        self.thumbs.pop((model, name), None)

    def pull_changes(self) -> None:
        """Apply the style changes other copies made (under styles_lock)."""
        if self.shared_styles is not None:
            self.styles_seen, changes = self.shared_styles.changes_since(self.styles_seen)
            for change in changes:
                try:  # the copy that made it checked it against the same model: never expected to fail
                    self.apply_change(change)
                except StyljaxError as e:
                    log.error("style change %s %s/%s not applied: %s", *change[:3], e)

    def commit(self, change: tuple) -> bool:
        """Make `change` (under styles_lock, checked against the state `pull_changes` left): False
        when another copy changed styles meanwhile (pull and check again)."""
        if self.shared_styles is not None:
            version = self.shared_styles.append(self.styles_seen, change)
            if version is None:
                return False
            self.styles_seen = version
        self.apply_change(change)
        return True

    def sync_styles(self) -> None:
        """Apply the other copies' style changes (`app.state.sync_styles`: before each request)."""
        with self.styles_lock:
            self.pull_changes()

    def add_checked(self, model: str, m, data: bytes, name: str | None) -> dict:
        """Validate an uploaded style against the model (off the event loop), then add it."""
        from styljax.io import store

        expected, limit = self.templates[model]
        try:
            tree, meta = store.load_tree_checked(data, expected, what="file")
        except TooLarge as e:
            raise ApiError(413, str(e)) from None
        except StyljaxError as e:
            raise ApiError(400, str(e)) from None
        check_style_values(tree, limit, "file")
        most = self.cfg.max_added_styles
        with self.styles_lock:
            while True:
                self.pull_changes()
                try:
                    final = m.store.check_style(meta, m.manifest, "file", f"the {m.method} model", name)
                except StyljaxError as e:
                    raise ApiError(400, str(e)) from None
                if final in m.reserved_styles:
                    raise ApiError(400, f"name: {final!r} is reserved (it sets how strength works); give another name")
                if final in m.styles:
                    raise ApiError(409, f"model {model!r} already has a style {final!r}; give another name")
                if len(self.added) >= most:
                    raise ApiError(409, f"style limit reached: {most} added while serving; remove one first")
                try:
                    if self.commit(("add", model, final, tree, meta)):
                        return {"model": model, "name": final, "styles": m.styles}
                except StyljaxError as e:
                    raise ApiError(400, str(e)) from None

    def remove(self, model: str, m, style: str) -> None:
        """Remove an added or stored style (never a reserved one, nor the model's last)."""
        with self.styles_lock:
            while True:
                self.pull_changes()
                if style not in m.styles:
                    raise ApiError(404, f"model {model!r} has no style {style!r}")
                if style in m.reserved_styles:
                    raise ApiError(400, f"{style!r} is reserved (it sets how strength works)")
                if len(m.styles) == 1:
                    raise ApiError(409, f"{style!r} is the model's last style")
                if self.commit(("remove", model, style)):
                    return


# ------------------------------------------------------------------------------- the routes


def add_error_handlers(app, svc: Service) -> None:
    """Every error becomes `svc.error`'s JSON answer: no traceback reaches a client."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(ApiError)
    async def _api_error(request, e: ApiError):
        return svc.error(request.scope, e.status, e.message, e.headers)

    @app.exception_handler(StyljaxError)
    async def _styljax_error(request, e: StyljaxError):
        return svc.error(request.scope, 413 if isinstance(e, TooLarge) else 400, str(e))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, e: RequestValidationError):
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return svc.error(request.scope, 422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(HTTPException)
    async def _http(request, e: HTTPException):
        return svc.error(request.scope, e.status_code, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request, e: Exception):  # the catch-all: no traceback to the client
        return svc.error(request.scope, 500, f"internal error ({type(e).__name__})")


def add_page_routes(app) -> None:
    """The web page and its icon."""
    from fastapi.responses import FileResponse

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml",
                            headers={"Cache-Control": "max-age=86400"})


def add_status_routes(app, svc: Service) -> None:
    """/healthz and /metrics."""
    cfg, models, batcher = svc.cfg, svc.models, svc.batcher

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "models": {n: {"method": m.method, "styles": len(m.styles)} for n, m in models.items()},
                "compiled": batcher.compile_status()}

    @app.get("/metrics")
    def get_metrics():
        return {**svc.metrics.snapshot(), "queue_depth": batcher.depth, "queue_size": cfg.queue_size,
                "max_batch": cfg.max_batch, "max_wait_ms": cfg.max_wait_ms, "compiled": batcher.compile_status(),
                "added_styles": len(svc.added)}


def add_style_routes(app, svc: Service) -> None:
    """The style list and the styles' thumbnails."""
    from fastapi.responses import Response

    from styljax.infer.serving import takes_paintings

    @app.get("/v1/styles")
    def styles():
        return {"models": [
            {"name": n, "method": m.method, "style_image": takes_paintings(m),
             "styles": [{"name": s, "thumbnail": f"/v1/models/{n}/styles/{s}/thumbnail.jpg"} for s in m.styles]}
            for n, m in svc.models.items()]}

    @app.get("/v1/models/{model}/styles/{style}/thumbnail.jpg")
    async def thumbnail(model: str, style: str):
        m = svc.model_of(model)
        if style not in m.styles:
            raise ApiError(404, f"model {model!r} has no style {style!r}")
        body = await svc.thumbnail_bytes(model, m, style)
        return Response(body, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


def add_stylize_route(app, svc: Service) -> None:
    """POST /v1/stylize: a photo through a model's style, or an uploaded painting's (or a region
    fusion of two)."""
    from fastapi import File, Form, UploadFile
    from fastapi.responses import Response
    from starlette.concurrency import run_in_threadpool

    from styljax.infer.serving import Job, takes_paintings, two_regions

    cfg = svc.cfg
    painters = [n for n, m in svc.models.items() if takes_paintings(m)]

    async def first_style(name: str, m, style: str | None, style_image) -> dict:
        """The style of the image (or of its unpainted region): the spec `style`, or the painting."""
        if style_image is None:
            return await run_in_threadpool(svc.region_styles, m, style, "style")
        if style is not None:
            raise ApiError(400, "style and style_image: give one")
        if not takes_paintings(m):
            raise ApiError(400, f"style_image: model {name!r} ({m.method}) takes named styles only; "
                                f"models that take a painting: {', '.join(painters) or 'none served'}")
        if not style_image.size:
            raise ApiError(400, "style_image: empty upload")
        return await svc.off_loop(svc.painting_style, name, m, style_image.file)

    @app.post("/v1/stylize", response_class=Response, responses={
        200: {"description": "the stylized image", "content": {"image/png": {}, "image/jpeg": {}}}})
    async def stylize(
        image: UploadFile = File(..., description="the photo"),
        style: str | None = Form(None, description="NAME or a fusion a:0.7,b:0.3 (or a style_image)"),
        model: str = Form(next(iter(svc.models))),
        size: int | None = Form(None, description="longest side of the result (default: the photo's, capped)"),
        mask: UploadFile | None = File(None, description="painted region (white) for mask_style"),
        mask_style: str | None = Form(None),
        format: str = Form("png"),
        strength: str | None = Form(None, description="style strength in [0, 1] (default 1)"),
        preserve_colors: str | None = Form(None, description="true: keep the photo's colours"),
        style_image: UploadFile | None = File(None, description="a painting as the style, instead of `style`"),
    ):
        t0 = time.perf_counter()
        if style is None and style_image is None:  # as FastAPI answers a missing required field
            raise ApiError(422, "style: Field required (or upload a painting as style_image)")
        m = svc.model_of(model)
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
        styles = [await first_style(model, m, style, style_image)]
        if mask_style is not None:
            styles.append(await run_in_threadpool(svc.region_styles, m, mask_style, "mask_style"))
        if not image.size:
            raise ApiError(400, "image: empty upload")
        # the header is checked before decoding (pixel cap, bombs: 413; not an image: 400)
        side = {"max_side": size} if size else {"limit_side": min(cfg.default_side, cfg.max_side)}
        img = await svc.decode(image, "image", **side)
        if min(img.shape[:2]) < 16:
            raise ApiError(400, f"image: at least 16 px a side after resizing, got {img.shape[1]}×{img.shape[0]}")
        if mask is not None:
            grey = await svc.decode(mask, "mask", size=img.shape[:2])
            masks = two_regions(grey.mean(-1))
        else:
            masks = np.ones((1,) + img.shape[:2], np.float32)
        out = await svc.render(Job(model, img, styles, masks, 1.0 if s is None else s, keep))
        body = await run_in_threadpool(encode_image, out, format)
        dt = time.perf_counter() - t0
        svc.metrics.request(200, dt)
        return Response(body, media_type=f"image/{format}",
                        headers={"X-Latency-Ms": f"{1e3 * dt:.1f}", "X-Styljax-Strength-Mode": m.strength_mode})


def add_admin_routes(app, svc: Service) -> None:
    """Adding and removing styles while serving (admin token required)."""
    from fastapi import Request
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile as FormFile

    most = svc.cfg.max_added_styles

    @app.post("/v1/models/{model}/styles", status_code=201, openapi_extra=STYLE_UPLOAD_BODY)
    async def add_style(model: str, request: Request):
        svc.require_admin(request)  # before a byte of the body is read
        m = svc.model_of(model)
        if len(svc.added) >= most:
            raise ApiError(409, f"style limit reached: {most} added while serving; remove one first")
        async with request.form(max_files=1, max_fields=1) as form:
            file, name = form.get("file"), form.get("name")
            if not isinstance(file, FormFile):
                raise ApiError(400, "file: upload a `styljax styles export` .npz as the field `file`")
            if name is not None and not isinstance(name, str):
                raise ApiError(400, "name: a text field")
            data = await file.read()
        result = await run_in_threadpool(svc.add_checked, model, m, data, name or None)
        svc.metrics.request(201)
        return result

    @app.delete("/v1/models/{model}/styles/{style}")
    async def remove_style(model: str, style: str, request: Request):
        svc.require_admin(request)
        m = svc.model_of(model)
        await run_in_threadpool(svc.remove, model, m, style)  # the lock (and a shared record) off the loop
        svc.metrics.request(200)
        return {"model": model, "removed": style, "styles": m.styles}


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
    from fastapi import FastAPI

    from styljax.infer import openapi
    from styljax.infer.serving import Batcher, Metrics, ServeConfig
    from styljax.infer.transport_guard import BodyGuard

    cfg = cfg or ServeConfig()
    if not models:
        raise StyljaxError("serve: no models to serve")
    metrics = Metrics()
    batcher = (batcher_class or Batcher)(models, cfg, metrics, sharding)
    svc = Service(models, cfg, batcher, metrics, shared_styles)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        task = asyncio.create_task(svc.prerender()) if prerender_thumbnails else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task  # after the thread call it is in (a render's JAX work) returns
        batcher.close()
        for thread in svc.warming:
            thread.join()

    app = FastAPI(title="styljax", docs_url="/docs", redoc_url=None, lifespan=lifespan)
    app.state.batcher, app.state.metrics, app.state.models, app.state.service = batcher, metrics, models, svc
    app.state.sync_styles = svc.sync_styles
    add_error_handlers(app, svc)
    app.add_middleware(BodyGuard, cap=cfg.max_upload_bytes, timeout_s=cfg.body_timeout_s, reject=svc.error)
    openapi.install(app, list(models), cfg.max_side, reject=svc.error)  # the document is the contract; 415
    add_page_routes(app)
    add_status_routes(app, svc)
    add_style_routes(app, svc)
    add_stylize_route(app, svc)
    add_admin_routes(app, svc)
    return app
