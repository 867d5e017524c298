"""`styljax serve`: the HTTP service (FastAPI + uvicorn) and its web page.

This module is the verb: its flags (`register`), the models it serves by default, warm-up, and
`run_serve`, which starts uvicorn with the service's transport settings
(`styljax.infer.transport_guard`) over the app (`styljax.infer.serve_app`, which lists the endpoints).
With `--engine ray` the same app runs as Ray Serve replicas (`styljax.infer.ray_serve`).
"""

import argparse
import contextlib
import dataclasses
import faulthandler
import io
import logging
import os
import signal
from pathlib import Path

from styljax.errors import StyljaxError
from styljax.infer import common

TOKEN_ENV = "STYLJAX_ADMIN_TOKEN"


def default_models() -> dict[str, Path]:
    """The default model of every method with a renderer (`styljax.methods`), under its name: the
    shipped ones, and the fetched ones (`--method arbitrary`'s, after `styljax weights fetch`) when
    they are in the cache (the page's "use my painting" needs one)."""
    from styljax import methods

    out = {}
    for name in methods.named("renderer"):
        try:
            path = methods.get(name).default_model_path()
        except StyljaxError:  # a fetched model not fetched yet
            continue
        if (path / "manifest.json").is_file():
            out[name] = path
    return out


def register(sub) -> None:
    p = sub.add_parser("serve", help="HTTP service with dynamic batching and a web page",
                       description=__doc__.splitlines()[0], formatter_class=common.DefaultsHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    p.add_argument("--model", action="append", default=[], metavar="NAME=DIR",
                   help="serve this model under NAME (repeatable; DIR: a model folder, or a fetched model's name, "
                        "e.g. arbitrary=magenta-arbitrary; default: the shipped models, and the arbitrary-style "
                        "model once `styljax weights fetch` has fetched it)")
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
    """--model NAME=DIR items → {name: folder}; DIR may name a fetched model (`styljax.io.magenta.MODELS`)."""
    from styljax.io import magenta
    from styljax.stores.style_store import check_style_name

    if not items:
        return default_models()
    out = {}
    for it in items:
        name, sep, path = it.partition("=")
        if not sep:
            raise StyljaxError(f"--model: expected NAME=DIR, got {it!r}")
        out[check_style_name(name)] = Path(magenta.resolve_model(path))
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
        paint = app.state.service.warm_paintings_in_background()
        if mode == "start":
            paint.join()
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
    from styljax.infer.serve_app import create_app, load_models
    from styljax.infer.serving import ServeConfig
    from styljax.infer.transport_guard import uvicorn_config
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
