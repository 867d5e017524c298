"""Load test of `styljax serve` on loopback: dynamic batching vs batch size 1, and overload.

    python -m bench.serve_load [--requests 96] [--concurrency 16] [--model stylebank] > bench/results/serve_load.jsonl

Each case starts `styljax serve` as its own process on 127.0.0.1 (a free port) with the shipped
models, compiles every batch size for the photos' sizes (`--warmup`), warms it up with the same
load pattern, then sends
`--requests` POST /v1/stylize from `--concurrency` client threads: each a photo at `--size`
(longest side) with a random style or a random two-style fusion. Bounded in count and in time
(`--deadline` s per case, per-request timeout); the client counts every answer: 200, 4xx, 503 and
lost/hung (client timeouts, connection errors) must add up to the requests sent. Server memory
(RSS of the serve process) is sampled every 0.25 s during the measured phase.

Cases: `batched` (--max-batch 8, --max-wait-ms 20), `batch1` (--max-batch 1), and `overload`
(batched with --queue-size 4 under 3x the concurrency: the excess is answered 503 at once).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.common import emit, log, machine_info

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "content" / "kodak"


def photos(size: int, n: int = 8) -> list[bytes]:
    """JPEG bytes of the Kodak photos (resized so the longest side is `size`), or generated ones."""
    from PIL import Image

    files = sorted(SHARED.glob("*.png"))[:n] if SHARED.is_dir() else []
    out = []
    for i in range(n):
        if files:
            im = Image.open(files[i % len(files)]).convert("RGB")
            im.thumbnail((size, size), Image.LANCZOS)
        else:
            rng = np.random.default_rng(i)
            im = Image.fromarray((rng.uniform(size=(size * 2 // 3, size, 3)) * 255).astype(np.uint8))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`styljax serve` in a subprocess; stopped (and waited for) on exit."""

    def __init__(self, flags: list[str]):
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "infer", "serve", "--port", str(self.port), *flags]
        self.log = tempfile.TemporaryFile("w+")  # a file, not a pipe: a full pipe would block the server
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, text=True)
        t0 = time.time()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited: {self.output()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() - t0 > 600:
                self.stop()
                raise RuntimeError("serve did not start in 600 s")
            time.sleep(0.25)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def load(url: str, images: list[bytes], styles: list[str], n: int, concurrency: int, deadline: float,
         timeout: float, seed: int = 0) -> dict:
    """n requests from `concurrency` threads; latency and status of each (bounded by `deadline` s)."""
    import httpx

    rng = random.Random(seed)
    jobs = []
    for i in range(n):
        a, b = rng.sample(styles, 2)
        spec = a if i % 2 == 0 else f"{a}:{rng.randint(1, 9)},{b}:{rng.randint(1, 9)}"
        jobs.append((images[i % len(images)], spec))
    t_end = time.perf_counter() + deadline

    def one(job) -> tuple[str, float]:
        img, spec = job
        if time.perf_counter() > t_end:
            return "not_sent", 0.0
        t = time.perf_counter()
        try:
            with httpx.Client(timeout=timeout) as c:
                r = c.post(url + "/v1/stylize", files={"image": ("p.jpg", img, "image/jpeg")}, data={"style": spec})
            return str(r.status_code), time.perf_counter() - t
        except httpx.TimeoutException:
            return "hung", time.perf_counter() - t
        except httpx.HTTPError:
            return "lost", time.perf_counter() - t

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, jobs))
    wall = time.perf_counter() - t0
    codes: dict[str, int] = {}
    for code, _ in results:
        codes[code] = codes.get(code, 0) + 1
    ok = np.asarray([dt for code, dt in results if code == "200"]) * 1e3
    pct = (lambda q: float(np.percentile(ok, q)) if ok.size else None)
    return {"sent": n, "status": codes, "wall_s": wall, "throughput_rps": codes.get("200", 0) / wall,
            "latency_ms": {"p50": pct(50), "p90": pct(90), "p99": pct(99), "max": float(ok.max()) if ok.size else None}}


def rss_sampler(pid: int):
    """Start sampling the RSS of `pid`; call the returned function to stop and get the samples (MiB)."""
    import psutil

    proc, samples, stop = psutil.Process(pid), [], threading.Event()

    def loop():
        while not stop.is_set():
            try:
                samples.append(proc.memory_info().rss / 2**20)
            except psutil.Error:
                return
            stop.wait(0.25)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return lambda: (stop.set(), t.join(), samples)[2]


def run_case(name: str, flags: list[str], args, images, concurrency: int) -> None:
    import httpx

    log(f"{name}: starting serve {' '.join(flags)}")
    server = Server(["--model", f"{args.model}={Path('checkpoints') / args.model}", *flags])
    try:
        styles = [s["name"] for s in httpx.get(server.url + "/v1/styles").json()["models"][0]["styles"]]
        t = time.perf_counter()
        load(server.url, images, styles, args.requests // 2, concurrency, args.deadline, args.timeout, seed=1)
        warm_s = time.perf_counter() - t
        stop = rss_sampler(server.proc.pid)
        res = load(server.url, images, styles, args.requests, concurrency, args.deadline, args.timeout)
        rss = stop()
        metrics = httpx.get(server.url + "/metrics").json()
    finally:
        server.stop()
    answered = sum(v for k, v in res["status"].items() if k not in ("lost", "hung", "not_sent"))
    emit({"bench": "serve_load", "case": name, "model": args.model, "size": args.size, "concurrency": concurrency,
          "flags": " ".join(flags), **res, "answered": answered, "warmup_s": warm_s,
          "server_batch_sizes": metrics["batch_sizes"], "server_compute_ms": metrics["batch_compute_ms"],
          "server_rss_mib": {"first": rss[0] if rss else None, "last": rss[-1] if rss else None,
                             "max": max(rss) if rss else None, "samples": len(rss),
                             "quartile_medians": [float(np.median(q)) for q in np.array_split(rss, 4)] if len(rss) >= 4 else None}})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=96)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--model", default="stylebank")
    p.add_argument("--deadline", type=float, default=240.0, help="seconds per phase; later requests are not sent")
    p.add_argument("--timeout", type=float, default=120.0, help="client timeout per request")
    p.add_argument("--cases", default="batched,batch1,overload")
    args = p.parse_args()
    os.chdir(Path(__file__).resolve().parents[1])
    emit({"bench": "serve_load", "machine": machine_info()})
    images = photos(args.size)
    from PIL import Image

    shapes = sorted({Image.open(io.BytesIO(b)).size for b in images})  # compiled before the clock starts
    common = ["--max-side", str(args.size), "--timeout", str(args.timeout),
              "--warmup", ",".join(f"{w}x{h}" for w, h in shapes)]
    cases = {
        "batched": (["--max-batch", "8", "--max-wait-ms", "20", "--queue-size", "64"], args.concurrency),
        "batch1": (["--max-batch", "1", "--queue-size", "64"], args.concurrency),
        "overload": (["--max-batch", "8", "--max-wait-ms", "20", "--queue-size", "4"], 3 * args.concurrency),
    }
    for name in args.cases.split(","):
        flags, conc = cases[name]
        run_case(name, flags + common, args, images, conc)


if __name__ == "__main__":
    main()
