"""`styljax serve`: the HTTP service (FastAPI + uvicorn) and its web page.

    GET  /                                   the web page (upload, style sliders, paint a region)
    GET  /healthz                            {"status": "ok", models and style counts}
    GET  /metrics                            queue depth, batch sizes, latency percentiles, counts
    GET  /v1/styles                          every model's styles, each with a thumbnail URL
    GET  /v1/models/{model}/styles/{style}/thumbnail.jpg
    POST /v1/stylize                         multipart: image, style, [model, size, mask, mask_style, format,
                                             strength, preserve_colors]
    POST /v1/models/{model}/styles           multipart: file (a `styljax styles export` .npz), [name]

`style` is a style spec as for `styljax stylize`: `NAME` or a fusion `a:0.7,b:0.3`. With `mask`
(an image; white = painted) the painted region takes `mask_style` (another spec) and the rest
`style`: region fusion with soft masks (1 − m, m). `strength` (0-1, default 1) weakens the style
in the model's own way, named by the response header `X-Styljax-Strength-Mode` (features, gamma-beta
or pixel: `styljax.models.strength`); `preserve_colors=true` keeps the photo's chrominance. Results
come back as PNG or JPEG; every error is JSON `{"error": "..."}` with a 4xx/5xx status (413 too
large, 503 queue full, 504 timed out).
Requests are batched dynamically (`infer.serving`).
"""

# no `from __future__ import annotations`: FastAPI reads the endpoints' annotations at definition

import argparse
import asyncio
import contextlib
import faulthandler
import io
import signal
import tempfile
import time
from pathlib import Path

import numpy as np

from infer import common
from styljax.errors import StyljaxError

STATIC = Path(__file__).resolve().parent / "static"
THUMB_SIDE = 128


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def default_models() -> dict[str, Path]:
    from infer.stylebank import DEFAULT_MODEL
    from infer.transform import DEFAULT_MODELS

    return {"stylebank": DEFAULT_MODEL, **DEFAULT_MODELS}


def load_models(paths: dict[str, Path]) -> dict:
    """name → Renderer, the model kind read from each manifest."""
    from infer.stylebank import StyleBankRenderer
    from infer.transform import TransformRenderer
    from styljax.models import style_store

    models = {}
    for name, path in paths.items():
        fmt = style_store.read_manifest(path).get("format", "")
        models[name] = StyleBankRenderer(Path(path)) if "stylebank" in fmt else TransformRenderer(Path(path))
    return models


def thumbnail_scene(side: int = THUMB_SIDE) -> np.ndarray:
    """The built-in content every style thumbnail stylises: sky, sun, hills, a house (float RGB)."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    img = np.stack([0.35 + 0.4 * y, 0.55 + 0.3 * y, 0.9 - 0.2 * y], -1)  # sky
    sun = (x - 0.75) ** 2 + (y - 0.22) ** 2 < 0.012
    img[sun] = (1.0, 0.85, 0.3)
    hill = y > 0.62 + 0.08 * np.sin(6.0 * x)
    img[hill] = np.stack([0.2 + 0.2 * x, 0.5 + 0.1 * np.cos(9 * x), 0.2 + 0 * x], -1)[hill]
    house = (np.abs(x - 0.3) < 0.1) & (y > 0.5) & (y < 0.75)
    img[house] = (0.75, 0.3, 0.25)
    roof = (y > 0.38) & (y <= 0.5) & (np.abs(x - 0.3) < (y - 0.38) * 1.2)
    img[roof] = (0.35, 0.2, 0.15)
    return img.astype(np.float32)


def encode_image(img: np.ndarray, fmt: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    pil = Image.fromarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8))
    if fmt == "png":
        pil.save(buf, "PNG")
    else:
        pil.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def decode_upload(data: bytes, what: str, max_pixels: int, **kw) -> np.ndarray:
    """Upload bytes → float RGB with `styljax.image.load_image`'s checks (header pixel cap first)."""
    from styljax import image

    with tempfile.NamedTemporaryFile(suffix=".img") as f:
        f.write(data)
        f.flush()
        try:
            return image.load_image(f.name, max_pixels=max_pixels, **kw)
        except StyljaxError as e:
            msg = str(e).replace(f.name, what)
            raise ApiError(413 if "pixels" in msg else 400, msg) from None


def upload_size(data: bytes) -> tuple[int, int]:
    """(W, H) from the image header (nothing decoded)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise ApiError(400, "image: not a readable image") from None


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


def create_app(models: dict, cfg=None, sharding=None):
    """The FastAPI app over `models` (name → Renderer); batching and limits from `cfg` (ServeConfig)."""
    from fastapi import FastAPI, File, Form, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    from infer.serving import Batcher, Job, Metrics, QueueFull, ServeConfig, as_numpy_tree, two_regions
    from infer.stylebank import parse_style_spec
    from styljax import store

    cfg = cfg or ServeConfig()
    if not models:
        raise StyljaxError("serve: no models to serve")
    metrics = Metrics()
    batcher = Batcher(models, cfg, metrics, sharding)
    thumbs: dict[tuple[str, str], bytes] = {}
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        batcher.close()

    app = FastAPI(title="styljax", docs_url="/docs", redoc_url=None, lifespan=lifespan)
    app.state.batcher, app.state.metrics, app.state.models = batcher, metrics, models

    def error(status: int, message: str) -> JSONResponse:
        metrics.request(status)
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(ApiError)
    async def _api_error(request, e: ApiError):
        return error(e.status, e.message)

    @app.exception_handler(StyljaxError)
    async def _styljax_error(request, e: StyljaxError):
        return error(400, str(e))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, e: RequestValidationError):
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return error(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(HTTPException)
    async def _http(request, e: HTTPException):
        return error(e.status_code, str(e.detail))

    @app.middleware("http")
    async def _limit_upload(request: Request, call_next):
        if request.method == "POST":
            n = request.headers.get("content-length")
            if n is None:
                return error(411, "Content-Length required")
            if not n.isdigit() or int(n) > cfg.max_upload_bytes:
                return error(413, f"upload larger than {cfg.max_upload_bytes} bytes")
        return await call_next(request)

    def model_of(name: str):
        if name not in models:
            raise ApiError(404, f"unknown model {name!r}; serving: {', '.join(models)}")
        return models[name]

    def region_styles(model, spec_text: str, field: str) -> dict:
        try:
            spec = parse_style_spec(spec_text, model.styles)
        except StyljaxError as e:
            raise ApiError(400, f"{field}: {str(e).removeprefix('--style: ')}") from None
        if spec["mode"] == "all":
            raise ApiError(400, f"{field}: 'all' is not served; give one style or a fusion a:0.5,b:0.5")
        return as_numpy_tree(model.style_params(spec))

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
        except Exception as e:  # noqa: BLE001 - the batch failed; the worker goes on
            raise ApiError(500, f"rendering failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "models": {n: {"method": m.method, "styles": len(m.styles)} for n, m in models.items()}}

    @app.get("/metrics")
    def get_metrics():
        return {**metrics.snapshot(), "queue_depth": batcher.depth, "queue_size": cfg.queue_size,
                "max_batch": cfg.max_batch, "max_wait_ms": cfg.max_wait_ms}

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
        if (model, style) not in thumbs:
            scene = thumbnail_scene()
            job = Job(model, scene, [region_styles(m, style, "style")], np.ones((1,) + scene.shape[:2], np.float32))
            thumbs[(model, style)] = encode_image(await render(job), "jpeg")
        return Response(thumbs[(model, style)], media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    @app.post("/v1/stylize", response_class=Response, responses={
        200: {"description": "the stylised image", "content": {"image/png": {}, "image/jpeg": {}}}})
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
        styles = [region_styles(m, style, "style")]
        if mask_style is not None:
            styles.append(region_styles(m, mask_style, "mask_style"))
        data = await image.read()
        if not data:
            raise ApiError(400, "image: empty upload")
        natural = upload_size(data)  # header only: a non-image fails here, whatever the size
        side = size or min(max(natural), cfg.default_side)
        img = await run_in_threadpool(decode_upload, data, "image", cfg.max_pixels, max_side=side)
        if min(img.shape[:2]) < 16:
            raise ApiError(400, f"image: at least 16 px a side after resizing, got {img.shape[1]}×{img.shape[0]}")
        if mask is not None:
            mdata = await mask.read()
            grey = await run_in_threadpool(decode_upload, mdata, "mask", cfg.max_pixels, size=img.shape[:2])
            masks = two_regions(grey.mean(-1))
        else:
            masks = np.ones((1,) + img.shape[:2], np.float32)
        out = await render(Job(model, img, styles, masks, 1.0 if s is None else s, keep))
        body = await run_in_threadpool(encode_image, out, format)
        dt = time.perf_counter() - t0
        metrics.request(200, dt)
        return Response(body, media_type=f"image/{format}",
                        headers={"X-Latency-Ms": f"{1e3 * dt:.1f}", "X-Styljax-Strength-Mode": m.strength_mode})

    @app.post("/v1/models/{model}/styles", status_code=201)
    async def add_style(model: str, file: UploadFile = File(...), name: str | None = Form(None)):
        m = model_of(model)
        data = await file.read()
        with tempfile.NamedTemporaryFile(suffix=".npz") as f:
            f.write(data)
            f.flush()
            try:
                tree, meta = store.load_tree(f.name)
            except StyljaxError:
                raise ApiError(400, "file: not an exported styljax style (.npz from `styljax styles export`)") from None
        try:
            final = m.store.check_style(meta, m.manifest, "file", f"the {m.method} model", name)
            if final in m.styles:
                raise ApiError(409, f"model {model!r} already has a style {final!r}; give another name")
            added = m.add_style(tree, meta, final, what="file")
        except StyljaxError as e:
            raise ApiError(400, str(e)) from None
        metrics.request(201)
        return {"model": model, "name": added, "styles": m.styles}

    return app


# ------------------------------------------------------------------------------------------ CLI


def register(sub) -> None:
    p = sub.add_parser("serve", help="HTTP service with dynamic batching and a web page",
                       description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", action="append", default=[], metavar="NAME=DIR",
                   help="serve this model under NAME (repeatable; default: the shipped stylebank, cin, johnson)")
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--max-wait-ms", type=float, default=20.0, help="how long a batch waits to fill")
    p.add_argument("--queue-size", type=int, default=64, help="waiting requests before 503")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request before 504")
    p.add_argument("--max-upload-mb", type=float, default=16.0)
    p.add_argument("--max-pixels", type=int, default=24_000_000, help="of an uploaded image")
    p.add_argument("--max-side", type=int, default=1024, help="of a result")
    p.add_argument("--bucket", type=int, default=64,
                   help="images are reflect-padded to sides that are multiples of this (fewer compiles; "
                        "the padding shifts instance-norm statistics slightly, 4 = none)")
    p.add_argument("--warmup", default="", metavar="SIZES",
                   help="compile these image sizes for every batch size at start: sides or WxH, e.g. 512,256x171")
    p.set_defaults(func=run_serve)


def parse_models(items: list[str]) -> dict[str, Path]:
    from styljax.models.style_store import check_style_name

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


def warmup(app, sizes: list[tuple[int, int]]) -> None:
    """Compile every batch size of the buckets of `sizes` (H, W) for each model (one region)."""
    from infer.serving import Job, as_numpy_tree, batch_bucket

    batcher = app.state.batcher
    batch_sizes = sorted({batch_bucket(n, batcher.cfg.max_batch) for n in range(1, batcher.cfg.max_batch + 1)})
    for name, m in app.state.models.items():
        params = as_numpy_tree(m.style_params({"mode": "single", "names": [m.styles[0]], "weights": None}))
        for h, w in sizes:
            for n in batch_sizes:
                jobs = [Job(name, np.zeros((h, w, 3), np.float32), [params], np.ones((1, h, w), np.float32))] * n
                batcher.run(jobs[0].key(batcher.cfg.bucket), jobs)
            print(f"warm: {name} {w}x{h}, batch sizes {batch_sizes}", flush=True)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from infer.serving import ServeConfig
    from styljax import parallel

    try:
        cfg = ServeConfig(max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, queue_size=args.queue_size,
                          timeout_s=args.timeout, max_upload_bytes=int(args.max_upload_mb * 2**20),
                          max_pixels=args.max_pixels, max_side=args.max_side, bucket=args.bucket)
    except ValueError as e:
        raise StyljaxError(str(e)) from None
    models = load_models(parse_models(args.model))
    app = create_app(models, cfg, sharding=parallel.local_batch_sharding())
    warmup(app, parse_warmup(args.warmup))
    print(f"styljax serve: http://{args.host}:{args.port}/  models: "
          + ", ".join(f"{n} ({len(m.styles)} styles)" for n, m in models.items()), flush=True)
    with contextlib.suppress(io.UnsupportedOperation, AttributeError, ValueError):  # no real stderr: skip
        faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints every thread's stack
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
