"""The inference engine behind `styljax serve`: requests in, dynamic batches through one compiled
program per (model, size bucket, regions, batch size), results out. No HTTP here (see `styljax.infer.serve_app`).

A request is one image with, per region r, a style's params (a bank, or γ/β, possibly a fusion)
and a soft mask M_r (Σ_r M_r = 1), plus its own style strength and colour choice (per image in
the batched call, so they never split a batch). The `Batcher` thread takes the oldest request,
then for up to `max_wait_ms` gathers more with the same key (model, bucket (H_b, W_b), R) until
`max_batch`; images are reflect-padded to the bucket, the batch to a power of two, and the whole
batch goes through the model's `serve_batch` — each image its own styles, one compiled call.

Compilation cannot be weaponised: the buckets are a fixed, small set (`ServeConfig.buckets`, by
default squares of side 128, 256, 384, 512, 768 and 1024) and every accepted image fits one, so the
programs are a bounded set known at start. They are compiled ahead of time (`jit(...).lower(...)
.compile()`) by a separate compiler thread, never by the batching worker: the worker only takes a
request whose program is ready and serves the others while a cold one compiles (`precompile`
warms all of them at start-up, in the background or before listening). The queue is bounded:
`submit` raises `QueueFull` when `queue_size` requests wait (the service answers 503). A failing
batch is retried one request at a time, so one bad request fails alone; a result that is not
finite fails its request only.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import os
import threading
import time
from typing import Any

import jax
import numpy as np

from styljax.errors import StyljaxError
from styljax.render import StyleSpec
from styljax.runtime.buckets import DEFAULT_BUCKETS, batch_bucket, bucket_hw, pad_to


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """Limits and batching knobs of the service (flags of `styljax serve`)."""

    max_batch: int = 8
    max_wait_ms: float = 20.0
    queue_size: int = 64
    timeout_s: float = 60.0
    max_upload_bytes: int = 16 << 20
    max_pixels: int = 24_000_000  # of a decoded upload, checked before decoding
    max_side: int = 1024  # of a result
    default_side: int = 512
    buckets: tuple = DEFAULT_BUCKETS  # the padded (H, W) shapes programs are compiled for; one fits max_side²
    max_regions: int = 2
    max_decodes: int = 2  # images decoded at once
    max_added_styles: int = 32  # styles added over HTTP (and still there)
    body_timeout_s: float = 60.0  # to receive a request's body (408)
    header_timeout_s: float = 10.0  # to receive a request's headers (the connection is closed)
    keep_alive_s: float = 5.0  # an idle connection is closed after this
    admin_token: str | None = dataclasses.field(default=None, repr=False)  # None: no state changes over HTTP

    def __post_init__(self):
        buckets = tuple(sorted({(int(h), int(w)) for h, w in self.buckets}, key=lambda b: (b[0] * b[1], b)))
        object.__setattr__(self, "buckets", buckets)
        if (self.max_batch < 1 or self.queue_size < 1 or self.max_side < 16 or self.max_decodes < 1
                or self.max_added_styles < 0 or self.max_regions < 1
                or min(self.timeout_s, self.body_timeout_s, self.header_timeout_s, self.keep_alive_s) <= 0):
            raise ValueError(f"bad serve config {self}")
        if not buckets or any(min(b) < 16 or b[0] % 4 or b[1] % 4 for b in buckets):
            raise ValueError(f"buckets: sides must be multiples of 4 (the models' stride) and >= 16, got {buckets}")
        if not any(h >= self.max_side and w >= self.max_side for h, w in buckets):
            raise ValueError(f"buckets: none holds a {self.max_side}x{self.max_side} result (--max-side); got {buckets}")
        if self.admin_token is not None and len(self.admin_token) < 16:
            raise ValueError("admin token: at least 16 characters")


class QueueFull(Exception):
    """The bounded queue is full (HTTP 503)."""


class RenderError(Exception):
    """One request's render failed (HTTP 500 for that request only)."""


@dataclasses.dataclass(eq=False)  # identity, not array comparison (the queue removes jobs by identity)
class Job:
    """One request: `image` (H, W, 3) float32, `styles` R style-param trees (numpy), `masks` (R, H, W),
    its style `strength` in [0, 1] and whether to keep the photo's colours. Strength and colours are
    per image inside a batch, so they are not part of the batching key."""

    model: str
    image: np.ndarray
    styles: list
    masks: np.ndarray
    strength: float = 1.0
    preserve_colors: bool = False
    future: concurrent.futures.Future = dataclasses.field(default_factory=concurrent.futures.Future)
    t_submit: float = dataclasses.field(default_factory=time.perf_counter)

    def key(self, buckets) -> tuple:
        return (self.model, bucket_hw(*self.image.shape[:2], buckets), len(self.styles))


class Metrics:
    """Counters the /metrics endpoint reports: requests by status, batch sizes, latency percentiles."""

    def __init__(self, window: int = 10_000):
        self.lock = threading.Lock()
        self.status: collections.Counter = collections.Counter()
        self.batch_sizes: collections.Counter = collections.Counter()
        self.latency_ms: collections.deque = collections.deque(maxlen=window)
        self.compute_ms: collections.deque = collections.deque(maxlen=window)
        self.compiled: set = set()
        self.t0 = time.time()

    def request(self, status: int, latency_s: float | None = None) -> None:
        with self.lock:
            self.status[str(status)] += 1
            if latency_s is not None:
                self.latency_ms.append(1e3 * latency_s)

    def batch(self, n: int, compute_s: float, key: tuple) -> None:
        with self.lock:
            self.batch_sizes[str(n)] += 1
            self.compute_ms.append(1e3 * compute_s)
            self.compiled.add(key)

    @staticmethod
    def percentiles(values) -> dict:
        if not values:
            return {"p50": None, "p90": None, "p99": None, "n": 0}
        v = np.asarray(values)
        return {"p50": float(np.percentile(v, 50)), "p90": float(np.percentile(v, 90)),
                "p99": float(np.percentile(v, 99)), "n": int(v.size)}

    def snapshot(self) -> dict:
        with self.lock:
            return {"uptime_s": time.time() - self.t0, "requests": dict(self.status),
                    "batch_sizes": dict(self.batch_sizes), "latency_ms": self.percentiles(self.latency_ms),
                    "batch_compute_ms": self.percentiles(self.compute_ms),
                    "compiled_shapes": len(self.compiled)}


class Batcher:
    """Dynamic batching over a bounded queue, one worker thread (the device runs one batch at a time),
    and a compiler thread that builds the programs the worker runs.

    `models` maps a model name to a `styljax.render.Renderer`; `run(key, batch)` is
    swappable for tests. Results are the requests' images (H, W, 3) float32 in [0, 1]. Programs are
    keyed (model, bucket, regions, batch size); the worker never compiles: a request waits in the
    queue (its timeout running) until its program is ready, while requests with ready programs go on.
    """

    def __init__(self, models: dict, cfg: ServeConfig, metrics: Metrics | None = None, sharding=None):
        self.models, self.cfg = models, cfg
        self.metrics = metrics or Metrics()
        self.sharding = sharding  # NamedSharding of the batch axis over local devices, or None
        d = sharding.mesh.size if sharding is not None else 1  # the batch axis is split over d devices
        self.batch_sizes = sorted({-(-batch_bucket(n, cfg.max_batch) // d) * d for n in range(1, cfg.max_batch + 1)})
        # fixed while serving: the params without the styles, the neutral style, one style's shapes
        self._fns = {name: jax.jit(m.serve_batch) for name, m in models.items()}
        self._args = {name: m.serving_args() for name, m in models.items()}
        self._style_shapes = {name: jax.tree.map(lambda a: np.shape(a), style_example(m), is_leaf=_is_array)
                              for name, m in models.items()}
        self._programs: dict[tuple, Any] = {}  # (model, (H, W), R, n) → compiled program, or the exception
        self._wanted: collections.deque[tuple] = collections.deque()  # programs requests wait for: first
        self._planned: collections.deque[tuple] = collections.deque()  # warm-up in the background
        self._compiling: tuple | None = None
        self._waiting: collections.deque[Job] = collections.deque()
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="styljax-batcher", daemon=True)
        self._thread.start()
        self._compiler = threading.Thread(target=self._compile_loop, name="styljax-compiler", daemon=True)
        self._compiler.start()

    # ---------------------------------------------------------------------------------- queue
    @property
    def depth(self) -> int:
        with self._cv:
            return len(self._waiting)

    def submit(self, job: Job) -> concurrent.futures.Future:
        job.key(self.cfg.buckets)  # an image no bucket holds is refused here, not in the worker
        with self._cv:
            if self._closed:
                raise QueueFull("shutting down")
            if len(self._waiting) >= self.cfg.queue_size:  # timed-out requests give their places back
                self._waiting = collections.deque(j for j in self._waiting if not j.future.cancelled())
            if len(self._waiting) >= self.cfg.queue_size:
                raise QueueFull(f"queue full ({self.cfg.queue_size} waiting)")
            self._waiting.append(job)
            self._cv.notify_all()
        return job.future

    def close(self) -> None:
        """Stop: the waiting requests are cancelled; returns once the batch running and the program
        compiling are done. Both threads are joined, not left behind: a (daemon) thread still inside
        an XLA call when the interpreter exits aborts the process ("terminate called ... FATAL:
        exception not rethrown")."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        for thread in (self._thread, self._compiler):
            thread.join()
        for job in self._waiting:
            job.future.cancel()

    def _ready(self, key: tuple) -> list[int]:
        """Batch sizes with a program (or a compile failure, which fails the batch) for `key`; holds _cv."""
        return [n for n in self.batch_sizes if key + (n,) in self._programs]

    def _take_batch(self) -> tuple[tuple, list[Job]] | None:
        """The oldest job whose program is ready plus same-key jobs arriving within max_wait_ms (up
        to max_batch, and to the largest ready batch size); cold keys are handed to the compiler."""
        with self._cv:
            while True:
                if self._closed:
                    return None
                first = None
                if any(j.future.cancelled() for j in self._waiting):  # timed out while waiting
                    self._waiting = collections.deque(j for j in self._waiting if not j.future.cancelled())
                for j in self._waiting:
                    key = j.key(self.cfg.buckets)
                    if self._ready(key):
                        first = j
                        break
                    for n in self.batch_sizes:  # the smallest first: it serves any batch, one at a time
                        self._want(key + (n,))
                if first is not None:
                    break
                self._cv.wait()
            self._waiting.remove(first)
            batch = [first]
            deadline = time.perf_counter() + self.cfg.max_wait_ms / 1e3
            while len(batch) < self.cfg.max_batch:
                same = [j for j in self._waiting if j.key(self.cfg.buckets) == key]
                for j in same[: self.cfg.max_batch - len(batch)]:
                    self._waiting.remove(j)
                    batch.append(j)
                left = deadline - time.perf_counter()
                if len(batch) >= self.cfg.max_batch or left <= 0:
                    break
                self._cv.wait(timeout=left)
            ready = self._ready(key)
            want = min(n for n in self.batch_sizes if n >= len(batch))
            if want not in ready:  # compiled next; meanwhile the largest ready size, the rest wait
                self._want(key + (want,))
                if max(ready) < len(batch):
                    for j in reversed(batch[max(ready):]):
                        self._waiting.appendleft(j)
                    batch = batch[: max(ready)]
            return key, batch

    def _loop(self) -> None:
        while True:
            taken = self._take_batch()
            if taken is None:
                return
            self.run_jobs(*taken)

    def run_jobs(self, key: tuple, batch: list[Job]) -> None:
        """One batch of same-key jobs run and their futures resolved (the worker's step; also the
        step of `styljax serve --engine ray`, whose batching is Ray Serve's)."""
        batch = [j for j in batch if j.future.set_running_or_notify_cancel()]  # drop timed-out ones
        if not batch:
            return
        t = time.perf_counter()
        try:
            outs = self.run(key, batch)
        except Exception as e:  # noqa: BLE001 - retry one by one: a bad request fails alone
            if len(batch) == 1:
                batch[0].future.set_exception(e)
                return
            outs = []
            for job in batch:
                try:
                    outs.append(self.run(key, [job])[0])
                except Exception as e1:  # noqa: BLE001
                    outs.append(e1)
        self.metrics.batch(len(batch), time.perf_counter() - t, (key, self._size_for(key, len(batch))))
        for job, out in zip(batch, outs):
            if isinstance(out, Exception):
                job.future.set_exception(out)
            elif not np.isfinite(out).all():
                job.future.set_exception(RenderError("the result is not finite (NaN or inf)"))
            else:
                job.future.set_result(out)

    # ------------------------------------------------------------------------------ compiling
    def _want(self, pkey: tuple) -> None:
        """Ask the compiler for a program, before the background plan; holds _cv."""
        if pkey not in self._programs and pkey != self._compiling and pkey not in self._wanted:
            self._wanted.append(pkey)
            self._cv.notify_all()

    def plan(self, sizes: list[tuple[int, int]] | None = None, regions: list[int] | None = None) -> list[tuple]:
        """The programs for these image sizes (H, W) (default: every bucket) and region counts
        (default 1 .. max_regions): every model and batch size, batch size 1 of every bucket first."""
        hws = sorted({bucket_hw(h, w, self.cfg.buckets) for h, w in sizes} if sizes is not None else self.cfg.buckets,
                     key=lambda b: abs(max(b) - self.cfg.default_side))
        regions = regions or list(range(1, self.cfg.max_regions + 1))
        return [(m, hw, r, n) for r in regions for n in self.batch_sizes for hw in hws for m in self.models]

    def precompile(self, pkeys: list[tuple], wait: bool = False) -> None:
        """Compile these programs on the compiler thread (after the ones requests wait for); with
        `wait`, return when all are done."""
        with self._cv:
            self._planned.extend(k for k in pkeys if k not in self._programs)
            self._cv.notify_all()
            while wait and any(k not in self._programs for k in pkeys):
                self._cv.wait(timeout=1.0)

    def compile_status(self) -> dict:
        with self._cv:
            done = sum(1 for v in self._programs.values() if not isinstance(v, Exception))
            return {"programs": done, "failed": len(self._programs) - done,
                    "pending": len(self._wanted) + len(self._planned) + (self._compiling is not None)}

    def _compile_loop(self) -> None:
        with contextlib.suppress(AttributeError, OSError):  # below the worker: compiling yields to serving
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, os.getpriority(os.PRIO_PROCESS, 0) + 5))
        while True:
            with self._cv:
                while not self._closed and not (self._wanted or self._planned):
                    self._cv.wait()
                if self._closed:
                    return
                pkey = (self._wanted or self._planned).popleft()
                if pkey in self._programs:
                    continue
                self._compiling = pkey
            try:
                program = self._compile(pkey)
            except Exception as e:  # noqa: BLE001 - requests for it fail (500); the service goes on
                program = RenderError(f"compiling {pkey[1][1]}x{pkey[1][0]} x{pkey[3]} failed: {type(e).__name__}: {e}")
            with self._cv:
                self._programs[pkey] = program
                self._compiling = None
                self._cv.notify_all()

    def _compile(self, pkey: tuple):
        """Ahead-of-time compile of one program: the model's `serve_batch` for a (n, H, W) batch of R regions."""
        model, (h, w), r, n = pkey
        body, neutral = self._args[model]

        def spec(shape, dtype=np.float32):
            return jax.ShapeDtypeStruct(shape, dtype, sharding=self.sharding)

        styles = jax.tree.map(lambda shape: spec((n, r) + shape), self._style_shapes[model], is_leaf=_is_shape)
        return self._fns[model].lower(body, neutral, spec((n, h, w, 3)), styles, spec((n, r, h, w)), spec((n,)),
                                      spec((n,), bool)).compile()

    def _size_for(self, key: tuple, count: int) -> int:
        with self._cv:
            ready = self._ready(key) or self.batch_sizes
        return min((n for n in ready if n >= count), default=max(ready))

    # --------------------------------------------------------------------------------- compute
    def run(self, key: tuple, batch: list[Job]) -> list[np.ndarray]:
        """One compiled call for the batch: pad images to the bucket, the batch to a ready batch size.
        Compiles nothing: a program that is not ready is waited for (the worker only runs ready ones)."""
        model_name, hw, _ = key
        n = self._size_for(key, len(batch))
        pkey = key + (n,)
        with self._cv:
            if pkey not in self._programs:
                self._want(pkey)
                while pkey not in self._programs and not self._closed:
                    self._cv.wait(timeout=1.0)
            program = self._programs.get(pkey)
        if program is None:
            raise RenderError("shutting down")
        if isinstance(program, Exception):
            raise program
        jobs = batch + [batch[-1]] * (n - len(batch))
        x = np.stack([pad_to(j.image, hw) for j in jobs])
        masks = np.stack([pad_to(j.masks, hw, (1, 2)) for j in jobs])
        styles = stack([stack(j.styles) for j in jobs])  # leaves (B, R, ...)
        strength = np.asarray([j.strength for j in jobs], np.float32)  # (B,): each image its own
        keep = np.asarray([j.preserve_colors for j in jobs], bool)
        if self.sharding is not None:
            x, masks, styles, strength, keep = jax.device_put((x, masks, styles, strength, keep), self.sharding)
        body, neutral = self._args[model_name]
        out = np.asarray(program(body, neutral, x, styles, masks, strength, keep))
        return [out[i, : j.image.shape[0], : j.image.shape[1]] for i, j in enumerate(batch)]


def _is_array(x) -> bool:
    return isinstance(x, (np.ndarray, jax.Array))


def _is_shape(x) -> bool:
    return isinstance(x, tuple) and all(isinstance(d, int) for d in x)


def stack(trees: list) -> Any:
    """Trees of equal structure → one tree whose leaves have a new leading axis."""
    return jax.tree.map(lambda *a: np.stack(a), *trees)


def two_regions(mask: np.ndarray) -> np.ndarray:
    """A painted mask (H, W) in [0, 1] → (2, H, W): region 0 = unpainted (1 − m), region 1 = painted (m)."""
    m = np.clip(mask.astype(np.float32), 0.0, 1.0)
    return np.stack([1.0 - m, m])


def takes_paintings(model) -> bool:
    """Whether a served model takes a painting as its style (`painting_style`: the arbitrary-style
    model, `POST /v1/stylize`'s `style_image`)."""
    return callable(getattr(model, "painting_style", None))


def style_example(model) -> Any:
    """One style's params (numpy) of a served model, for their shapes: its first style's, or, for a
    model with no stored styles that takes paintings, a painting's (zeros, traced only)."""
    if model.styles:
        return as_numpy_tree(model.style_params(StyleSpec((model.styles[0],))))
    if not takes_paintings(model):
        raise StyljaxError(f"serve: the {model.method} model has no styles to serve")
    side = model.painting_side
    shapes = jax.eval_shape(model.painting_style, jax.ShapeDtypeStruct((side, side, 3), np.float32))
    return jax.tree.map(lambda s: np.zeros(s.shape, np.float32), shapes)


def as_numpy_tree(tree: Any) -> Any:
    return jax.tree.map(lambda a: np.asarray(a, np.float32), tree)
