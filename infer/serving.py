"""The inference engine behind `styljax serve`: requests in, dynamic batches through one jitted
call per (model, size bucket, regions), results out. No HTTP here (see `infer.serve`).

A request is one image with, per region r, a style's params (a bank, or γ/β, possibly a fusion)
and a soft mask M_r (Σ_r M_r = 1), plus its own style strength and colour choice (per image in
the batched call, so they never split a batch). The `Batcher` thread takes the oldest request,
then for up to `max_wait_ms` gathers more with the same key (model, bucket (H_b, W_b), R) until
`max_batch`; images are reflect-padded to the bucket, the batch to a power of two, and the whole
batch goes through `Renderer.render_per_image` — each image its own styles, one compiled call. So `jit`
compiles once per key and batch size, never per request. The queue is bounded: `submit` raises
`QueueFull` when `queue_size` requests wait (the service answers 503).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import math
import threading
import time
from typing import Any

import jax
import numpy as np


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
    bucket: int = 64  # padded sides are multiples of this (a multiple of 4: the models' stride)
    max_regions: int = 2

    def __post_init__(self):
        if self.max_batch < 1 or self.queue_size < 1 or self.bucket < 4 or self.bucket % 4 or self.max_side < 16:
            raise ValueError(f"bad serve config {self}")


class QueueFull(Exception):
    """The bounded queue is full (HTTP 503)."""


def bucket_hw(h: int, w: int, step: int) -> tuple[int, int]:
    """(H, W) rounded up to multiples of `step`: the padded shape a batch is compiled for."""
    return -(-h // step) * step, -(-w // step) * step


def batch_bucket(n: int, max_batch: int) -> int:
    """Batch sizes are padded to powers of two (≤ max_batch): log₂ compilations per shape."""
    return min(max_batch, 1 << max(0, math.ceil(math.log2(max(n, 1)))))


def pad_to(x: np.ndarray, hw: tuple[int, int], axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Reflect-pad the bottom/right of `x` along its (H, W) `axes` to `hw` ((0, 1) for an image
    (H, W, 3), (1, 2) for masks (R, H, W))."""
    pads = [(0, 0)] * x.ndim
    for ax, n in zip(axes, hw):
        pads[ax] = (0, n - x.shape[ax])
    return np.pad(x, pads, mode="reflect" if min(x.shape[a] for a in axes) > 1 else "edge")


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

    def key(self, step: int) -> tuple:
        return (self.model, bucket_hw(*self.image.shape[:2], step), len(self.styles))


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
    """Dynamic batching over a bounded queue, one worker thread (the device runs one batch at a time).

    `models` maps a model name to a `Renderer` (`infer.stylebank.Renderer`); `run(key, batch)` is
    swappable for tests. Results are the requests' images (H, W, 3) float32 in [0, 1].
    """

    def __init__(self, models: dict, cfg: ServeConfig, metrics: Metrics | None = None, sharding=None):
        self.models, self.cfg = models, cfg
        self.metrics = metrics or Metrics()
        self.sharding = sharding  # NamedSharding of the batch axis over local devices, or None
        self._waiting: collections.deque[Job] = collections.deque()
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="styljax-batcher", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------------------------- queue
    @property
    def depth(self) -> int:
        with self._cv:
            return len(self._waiting)

    def submit(self, job: Job) -> concurrent.futures.Future:
        with self._cv:
            if self._closed:
                raise QueueFull("shutting down")
            if len(self._waiting) >= self.cfg.queue_size:  # timed-out requests give their places back
                self._waiting = collections.deque(j for j in self._waiting if not j.future.cancelled())
            if len(self._waiting) >= self.cfg.queue_size:
                raise QueueFull(f"queue full ({self.cfg.queue_size} waiting)")
            self._waiting.append(job)
            self._cv.notify()
        return job.future

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._thread.join(timeout=5)
        for job in self._waiting:
            job.future.cancel()

    def _take_batch(self) -> list[Job] | None:
        """The oldest job plus same-key jobs arriving within max_wait_ms (up to max_batch)."""
        with self._cv:
            while not self._waiting and not self._closed:
                self._cv.wait()
            if self._closed:
                return None
            first = self._waiting.popleft()
            key = first.key(self.cfg.bucket)
            batch = [first]
            deadline = time.perf_counter() + self.cfg.max_wait_ms / 1e3
            while len(batch) < self.cfg.max_batch:
                same = [j for j in self._waiting if j.key(self.cfg.bucket) == key]
                for j in same[: self.cfg.max_batch - len(batch)]:
                    self._waiting.remove(j)
                    batch.append(j)
                left = deadline - time.perf_counter()
                if len(batch) >= self.cfg.max_batch or left <= 0:
                    break
                self._cv.wait(timeout=left)
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            batch = [j for j in batch if j.future.set_running_or_notify_cancel()]  # drop timed-out ones
            try:
                if batch:
                    t = time.perf_counter()
                    key = batch[0].key(self.cfg.bucket)
                    outs = self.run(key, batch)
                    self.metrics.batch(len(batch), time.perf_counter() - t, (key, batch_bucket(len(batch), self.cfg.max_batch)))
                    for job, out in zip(batch, outs):
                        job.future.set_result(out)
            except Exception as e:  # noqa: BLE001 - the batch's requests fail (500), the worker goes on
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(e)

    # --------------------------------------------------------------------------------- compute
    def run(self, key: tuple, batch: list[Job]) -> list[np.ndarray]:
        """One jitted call for the batch: pad images to the bucket, the batch to a power of two."""
        model_name, hw, _ = key
        model = self.models[model_name]
        n = batch_bucket(len(batch), self.cfg.max_batch)
        if self.sharding is not None:  # the batch axis is split over the devices
            d = self.sharding.mesh.size
            n = -(-n // d) * d
        jobs = batch + [batch[-1]] * (n - len(batch))
        x = np.stack([pad_to(j.image, hw) for j in jobs])
        masks = np.stack([pad_to(j.masks, hw, (1, 2)) for j in jobs])
        styles = stack([stack(j.styles) for j in jobs])  # leaves (B, R, ...)
        strength = np.asarray([j.strength for j in jobs], np.float32)  # (B,): each image its own
        keep = np.asarray([j.preserve_colors for j in jobs], bool)
        if self.sharding is not None:
            x, masks, styles, strength = jax.device_put((x, masks, styles, strength), self.sharding)
        out = np.asarray(model.render_per_image(x, styles, masks, strength, keep))
        return [out[i, : j.image.shape[0], : j.image.shape[1]] for i, j in enumerate(batch)]


def stack(trees: list) -> Any:
    """Trees of equal structure → one tree whose leaves have a new leading axis."""
    return jax.tree.map(lambda *a: np.stack(a), *trees)


def two_regions(mask: np.ndarray) -> np.ndarray:
    """A painted mask (H, W) in [0, 1] → (2, H, W): region 0 = unpainted (1 − m), region 1 = painted (m)."""
    m = np.clip(mask.astype(np.float32), 0.0, 1.0)
    return np.stack([1.0 - m, m])


def as_numpy_tree(tree: Any) -> Any:
    return jax.tree.map(lambda a: np.asarray(a, np.float32), tree)
