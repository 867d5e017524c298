"""`styljax serve --max-batch auto`: the batch limit from a measurement of the loaded model.

Batching pays where one call's fixed costs (dispatch, weights read once per call) are large
next to the work per image, as on an accelerator; on a CPU the convolutions already use every
core at batch 1 and a batch of several images can take longer per image. So on a CPU host the
service times one model's batched program at the common size at a few batch sizes and serves
with the best; the choice is cached under the styljax cache directory (keyed by model, host and
size), so only the first start measures. Elsewhere the limit stays `DEFAULT_MAX_BATCH`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

DEFAULT_MAX_BATCH = 8  # on an accelerator, and the --max-batch given without a measurement
MEASURED_SIZES = (1, 2, 4)
TOLERANCE = 0.05  # a larger batch must be this much faster per image to be chosen (it adds latency)
CACHE_FILE = "serve_batch_policy.json"


def pick_max_batch(per_image_s: Mapping[int, float], tolerance: float = TOLERANCE) -> int:
    """The batch limit from measured seconds per image at each batch size.

    Args:
        per_image_s: batch size → seconds per image at that size (a call's time / batch size).
        tolerance: relative margin a larger batch must win by over the best smaller one: a
            request waits for its batch to fill, so near-equal throughput goes to the smaller.
    Returns:
        The chosen batch size (1 if nothing was measured).
    """
    best = None
    for n in sorted(per_image_s):
        if best is None or per_image_s[n] < per_image_s[best] * (1.0 - tolerance):
            best = n
    return best or 1


def time_per_image(run: Callable[[int], object], sizes=MEASURED_SIZES, repeats: int = 3) -> dict[int, float]:
    """batch size → seconds per image: the fastest of `repeats` calls of `run(n)` (after one
    unmeasured call that compiles), divided by n. `run(n)` must block until its result is ready."""
    out = {}
    for n in sizes:
        run(n)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            run(n)
            best = min(best, time.perf_counter() - t0)
        out[n] = best / n
    return out


def serve_batch_runner(model, hw: tuple[int, int]) -> Callable[[int], object]:
    """`run(n)` for `time_per_image`: the model's service program (`serve_batch`) on n grey
    images of size hw, one region of its first style, full strength."""
    import jax
    import numpy as np

    from styljax.infer.serving import stack
    from styljax.render import StyleSpec

    fn = jax.jit(model.serve_batch)
    body, neutral = model.serving_args()
    style = jax.tree.map(np.asarray, model.style_params(StyleSpec(names=(model.styles[0],))))

    def run(n: int):
        x = np.full((n, *hw, 3), 0.5, np.float32)
        styles = stack([stack([style]) for _ in range(n)])  # leaves (n, 1, ...)
        masks = np.ones((n, 1, *hw), np.float32)
        return jax.block_until_ready(fn(body, neutral, x, styles, masks, np.ones(n, np.float32), np.zeros(n, bool)))

    return run


def cache_key(model_dir: Path, hw: tuple[int, int]) -> str:
    """What the measurement depends on: the model's files, the device, the host, JAX and the size."""
    import jax

    manifest = Path(model_dir) / "manifest.json"
    digest = hashlib.sha256(manifest.read_bytes() if manifest.is_file() else str(model_dir).encode()).hexdigest()[:16]
    dev = jax.devices()[0]
    return f"{Path(model_dir).resolve()}|{digest}|{dev.platform}:{dev.device_kind}|cpus={os.cpu_count()}|jax={jax.__version__}|{hw[0]}x{hw[1]}"


def auto_max_batch(model, model_dir: Path, hw: tuple[int, int], cache_path: Path | None = None,
                   log: Callable[[str], None] = print) -> int:
    """--max-batch auto: `DEFAULT_MAX_BATCH` off CPU; on CPU the measured best for `model` at hw
    (`pick_max_batch`), read from / written to `cache_path` (default: the styljax cache dir)."""
    import jax

    if jax.default_backend() != "cpu":
        log(f"max batch {DEFAULT_MAX_BATCH} ({jax.default_backend()}: not measured)")
        return DEFAULT_MAX_BATCH
    if cache_path is None:
        from styljax.io.weights import cache_dir

        cache_path = cache_dir() / CACHE_FILE
    key = cache_key(model_dir, hw)
    try:
        cached = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cached = {}
    entry = cached.get(key) if isinstance(cached, dict) else None
    if isinstance(entry, dict) and isinstance(entry.get("max_batch"), int) and entry["max_batch"] >= 1:
        log(f"max batch {entry['max_batch']} (measured earlier at {hw[1]}x{hw[0]}: {_fmt(entry.get('per_image_s', {}))};"
            f" cached in {cache_path})")
        return entry["max_batch"]
    log(f"measuring the batch limit at {hw[1]}x{hw[0]} (once; cached in {cache_path}) ...")
    per_image = time_per_image(serve_batch_runner(model, hw))
    choice = pick_max_batch(per_image)
    log(f"max batch {choice} (seconds per image: {_fmt(per_image)})")
    cached = cached if isinstance(cached, dict) else {}
    cached[key] = {"max_batch": choice, "per_image_s": {str(n): s for n, s in per_image.items()}}
    try:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cached, indent=1))
        tmp.replace(cache_path)
    except OSError:
        pass  # a read-only cache: measure again next start
    return choice


def _fmt(per_image: Mapping) -> str:
    return ", ".join(f"batch {n}: {float(s):.3f}" for n, s in per_image.items())
