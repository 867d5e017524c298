"""Shared benchmark plumbing: JSON-lines output, timing, thread setup, machine facts, matmul roof.

Every benchmark prints one header JSON line (`machine_info()` + the measured matmul roof) and then
one JSON line per case via `emit`, so output can be redirected to a `.jsonl` file and parsed.

Timed callables must *block*: for JAX, call `jax.block_until_ready` on the result inside the
callable (JAX dispatch is asynchronous); PyTorch on CPU is synchronous already.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _json_default(obj: Any):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _clean(obj: Any):
    """Round floats for readability and turn NaN/inf into null (strict JSON)."""
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return None
        return float(f"{obj:.6g}")
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def emit(record: dict) -> None:
    """Print `record` as one JSON line on stdout and flush (one line per case)."""
    print(json.dumps(_clean(record), default=_json_default), flush=True)


def log(msg: str) -> None:
    """Progress messages go to stderr so stdout stays pure JSON lines."""
    print(msg, file=sys.stderr, flush=True)


def _busy_seconds() -> float | None:
    """CPU-seconds all processes on the machine spent busy since boot (from /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    vals = [int(v) for v in fields[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
    busy = sum(vals[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Contention:
    """Measures how much CPU *other* processes used during a block (to flag noisy timings).

    `others_cores` is the average number of cores kept busy by other processes (incl. steal).
    """

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.busy0 = _busy_seconds()
        self.own0 = _own_cpu_seconds()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self.t0
        busy1 = _busy_seconds()
        own = _own_cpu_seconds() - self.own0
        if self.busy0 is None or busy1 is None or wall <= 0:
            self.others_cores = None
        else:
            self.others_cores = max(0.0, (busy1 - self.busy0 - own) / wall)
        return False


def others_cores(interval: float = 0.5) -> float | None:
    """Average number of cores busy with other processes over `interval` seconds."""
    with Contention() as c:
        time.sleep(interval)
    return c.others_cores


def wait_for_idle(threshold: float = 0.3, max_wait: float = 60.0, interval: float = 0.5) -> float:
    """Wait (at most `max_wait` s) until other processes use < `threshold` cores. Returns seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < max_wait:
        oc = others_cores(interval)
        if oc is None or oc < threshold:
            break
    return time.perf_counter() - t0


def timeit_stats(
    fn: Callable[[], Any],
    *,
    warmup: int = 2,
    min_time: float = 2.0,
    max_reps: int = 50,
    min_reps: int = 3,
) -> dict:
    """Time a blocking zero-argument callable.

    Runs `warmup` untimed calls, then timed calls until at least `min_reps` calls were made and
    `min_time` seconds have elapsed in total, or `max_reps` calls were made. Returns the median,
    min and max seconds per call, the number of timed calls, and `others_cores`: the average number
    of cores other processes kept busy meanwhile (> ~0.2 means the timing is contaminated).
    """
    for _ in range(warmup):
        fn()
    times: list[float] = []
    with Contention() as cont:
        start = time.perf_counter()
        while len(times) < max(1, max_reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
            if len(times) >= min_reps and time.perf_counter() - start >= min_time:
                break
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "reps": len(times),
        "others_cores": cont.others_cores,
    }


def timeit_clean(
    fn: Callable[[], Any],
    *,
    warmup: int = 2,
    min_time: float = 2.0,
    max_reps: int = 50,
    min_reps: int = 3,
    max_others: float = 0.15,
    retries: int = 2,
    idle_wait: float = 60.0,
) -> dict:
    """`timeit_stats` on a shared machine: wait for other processes to go idle first, and repeat
    the measurement (up to `retries` more times) while other processes kept more than
    `max_others` cores busy during it. Returns the least contaminated attempt, plus `attempts` and
    `waited_s` (total seconds spent waiting for idle)."""
    best: dict | None = None
    waited = 0.0
    for attempt in range(retries + 1):
        if idle_wait > 0:
            waited += wait_for_idle(max_wait=idle_wait)
        st = timeit_stats(
            fn,
            warmup=warmup if attempt == 0 else min(warmup, 1),
            min_time=min_time,
            max_reps=max_reps,
            min_reps=min_reps,
        )
        st["attempts"] = attempt + 1
        oc = st["others_cores"]
        if best is None or (oc if oc is not None else 0.0) < (
            best["others_cores"] if best["others_cores"] is not None else 0.0
        ):
            best = st
        if oc is None or oc <= max_others:
            break
    assert best is not None
    best["attempts"] = attempt + 1
    best["waited_s"] = waited
    return best


def compile_jax(f, *args, **kwargs):
    """(compiled `jax.jit(f)` for these arguments, seconds the lowering and compilation took)."""
    import jax

    t0 = time.perf_counter()
    compiled = jax.jit(f).lower(*args, **kwargs).compile()
    return compiled, time.perf_counter() - t0


def timeit(
    fn: Callable[[], Any],
    *,
    warmup: int = 2,
    min_time: float = 2.0,
    max_reps: int = 50,
    min_reps: int = 3,
) -> float:
    """Median seconds per call of a blocking zero-argument callable (see `timeit_stats`)."""
    return timeit_stats(
        fn, warmup=warmup, min_time=min_time, max_reps=max_reps, min_reps=min_reps
    )["median_s"]


def default_threads() -> int:
    """Cores this process may run on (what XLA:CPU sizes its intra-op thread pool to)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch


def thread_setup(threads: int | None = None) -> int:
    """Give PyTorch the same number of threads JAX's CPU backend uses (one per available core).

    XLA:CPU sizes its intra-op pool to the number of cores; torch's intra-op and inter-op pools are
    set to the same count so the comparison is like for like. Returns the count. Does not touch
    BLAS environment variables (e.g. OPENBLAS_CORETYPE stays whatever the environment set).
    """
    threads = threads or default_threads()
    torch = torch_or_none()
    if torch is not None:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:
            pass  # can only be set once, before any inter-op work; already set is fine
    return threads


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info() -> dict:
    """Facts about the machine and software, for the header line."""
    import jax
    import jaxlib

    info: dict[str, Any] = {
        "kind": "header",
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": default_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "env": {
            k: os.environ.get(k)
            for k in (
                "OPENBLAS_CORETYPE",
                "OMP_NUM_THREADS",
                "MKL_NUM_THREADS",
                "XLA_FLAGS",
                "JAX_PLATFORMS",
            )
        },
    }
    try:
        import flax

        info["flax"] = flax.__version__
    except ImportError:
        pass
    torch = torch_or_none()
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["torch_interop_threads"] = torch.get_num_interop_threads()
        info["torch_mkldnn"] = bool(torch.backends.mkldnn.is_available())
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    else:
        info["torch"] = None
    return info


def matmul_roof(
    n: int = 2048, dtype=np.float32, *, min_time: float = 1.0, idle_wait: float = 60.0
) -> dict:
    """Achieved dense-matmul GFLOP/s (2·n³ flops per `a @ b`) with JAX and, if present, PyTorch.

    This is a practical "roof" for conv-heavy work on this CPU: what a well-tuned GEMM reaches
    with the configured thread count, not the theoretical peak (convolutions can exceed it).
    Timed with `timeit_clean` (waits up to `idle_wait` s for other processes to go idle).
    """
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((n, n)).astype(dtype)
    b_np = rng.standard_normal((n, n)).astype(dtype)
    flops = 2.0 * n**3

    a, b = jnp.asarray(a_np), jnp.asarray(b_np)
    mm = jax.jit(lambda x, y: x @ y).lower(a, b).compile()
    js = timeit_clean(
        lambda: jax.block_until_ready(mm(a, b)), warmup=2, min_time=min_time, idle_wait=idle_wait
    )
    jax_s = js["median_s"]
    out: dict[str, Any] = {
        "n": n,
        "dtype": np.dtype(dtype).name,
        "jax_s": jax_s,
        "jax_gflops": flops / jax_s / 1e9,
        "jax_others_cores": js["others_cores"],
    }
    torch = torch_or_none()
    if torch is not None:
        ta, tb = torch.from_numpy(a_np), torch.from_numpy(b_np)
        with torch.inference_mode():
            ts = timeit_clean(lambda: ta @ tb, warmup=2, min_time=min_time, idle_wait=idle_wait)
        torch_s = ts["median_s"]
        out["torch_others_cores"] = ts["others_cores"]
        out["torch_s"] = torch_s
        out["torch_gflops"] = flops / torch_s / 1e9
        out["torch_threads"] = torch.get_num_threads()
    return out
