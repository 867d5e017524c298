"""Soak of `styljax serve` on loopback: ~80% of its measured capacity for N minutes, mixed sizes and a
share of hostile requests (issue #36).

    python -m bench.serve_soak [--minutes 10] [--load 0.8] [--hostile 0.1] [--rss-budget-mib 3072] \
        > bench/results/serve_soak.jsonl

1. Starts `styljax serve` with its default flags (the shipped models) on a free loopback port and
   warms it with the workload below until every size has been answered.
2. Capacity: `--calibrate-s` seconds of closed-loop load from `--concurrency` clients with the
   valid mix; capacity = answered 200s per second.
3. Soak: open-loop Poisson arrivals at `--load` × capacity for `--minutes`. Each arrival is a valid
   request (photo side drawn from `--sizes`, a random model, style or two-style fusion, strength,
   format) or, with probability `--hostile`, one of: a truncated JPEG, a PNG header declaring
   100000², an unknown style, size out of range, strength 7, a JSON body, an empty image, a
   non-image. Valid ones must answer 200 (or 503 when the queue is full), hostile ones 4xx.
4. Every minute one JSON line: p50/p99 latency of the valid 200s, status counts, 5xx count, the
   server's RSS (median and max of 0.25 s samples) against `--rss-budget-mib`; then a summary line
   (`fivexx` must be 0, `rss_over_budget` false, `lost` 0).

Unmeasured in the repository so far: run it on an idle machine (it owns the cores for the whole soak).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np

from bench.common import emit, log, machine_info
from bench.serve_load import Server, photos, rss_sampler

HOSTILE_KINDS = ("truncated", "huge_header", "unknown_style", "bad_size", "bad_strength", "json_body", "empty", "not_image")


def huge_png(side: int = 100_000) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


class Workload:
    """Draws requests: (kind, request kwargs for httpx.Client.post)."""

    def __init__(self, models: dict[str, list[str]], sizes: list[int], hostile: float, seed: int):
        self.rng = random.Random(seed)
        self.models, self.hostile = models, hostile
        self.images = {s: photos(s, n=4) for s in sizes}
        self.huge = huge_png()

    def valid(self) -> tuple[str, dict]:
        rng = self.rng
        model = rng.choice(sorted(self.models))
        styles = [s for s in self.models[model] if s != "identity"]
        size = rng.choice(sorted(self.images))
        spec = rng.choice(styles)
        if len(styles) > 1 and rng.random() < 0.3:
            a, b = rng.sample(styles, 2)
            spec = f"{a}:{rng.randint(1, 9)},{b}:{rng.randint(1, 9)}"
        data = {"style": spec, "model": model, "format": rng.choice(["png", "jpeg"])}
        if rng.random() < 0.3:
            data["strength"] = f"{rng.random():.2f}"
        img = rng.choice(self.images[size])
        return f"valid_{size}", {"files": {"image": ("p.jpg", img, "image/jpeg")}, "data": data}

    def hostile_one(self) -> tuple[str, dict]:
        rng = self.rng
        kind = rng.choice(HOSTILE_KINDS)
        model = rng.choice(sorted(self.models))
        img = rng.choice(self.images[min(self.images)])
        style = self.models[model][0]
        base = {"style": style, "model": model}
        req = {
            "truncated": {"files": {"image": ("p.jpg", img[: len(img) // 2], "image/jpeg")}, "data": base},
            "huge_header": {"files": {"image": ("h.png", self.huge, "image/png")}, "data": base},
            "unknown_style": {"files": {"image": ("p.jpg", img, "image/jpeg")}, "data": {**base, "style": "no-such-style"}},
            "bad_size": {"files": {"image": ("p.jpg", img, "image/jpeg")}, "data": {**base, "size": "100000"}},
            "bad_strength": {"files": {"image": ("p.jpg", img, "image/jpeg")}, "data": {**base, "strength": "7"}},
            "json_body": {"json": base},
            "empty": {"files": {"image": ("p.jpg", b"", "image/jpeg")}, "data": base},
            "not_image": {"files": {"image": ("p.jpg", os.urandom(2048), "image/jpeg")}, "data": base},
        }[kind]
        return f"hostile_{kind}", req

    def next(self) -> tuple[str, dict]:
        return self.hostile_one() if self.rng.random() < self.hostile else self.valid()


def send(client, url: str, kind: str, req: dict) -> tuple[str, str, float]:
    import httpx

    t = time.perf_counter()
    try:
        r = client.post(url + "/v1/stylize", **req)
        status = str(r.status_code)
        if kind.startswith("hostile") and r.status_code >= 400:
            json.loads(r.content)  # every error is JSON
    except httpx.TimeoutException:
        status = "hung"
    except httpx.HTTPError:
        status = "lost"
    except ValueError:
        status = "not_json"
    return kind, status, time.perf_counter() - t


def capacity(url: str, work: Workload, seconds: float, concurrency: int) -> float:
    """200s per second under closed-loop load from `concurrency` clients sending valid requests."""
    import httpx

    t_end = time.perf_counter() + seconds
    ok = [0]
    lock = threading.Lock()

    def client_loop():
        with httpx.Client(timeout=120) as c:
            while time.perf_counter() < t_end:
                with lock:
                    kind, req = work.valid()
                if send(c, url, kind, req)[1] == "200":
                    with lock:
                        ok[0] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ok[0] / (time.perf_counter() - t0)


def minute_line(minute: int, rows: list[tuple[float, str, str, float]], rss: list[float], budget: float) -> dict:
    statuses: dict[str, int] = {}
    for _, _, s, _ in rows:
        statuses[s] = statuses.get(s, 0) + 1
    lat = np.asarray([dt for _, k, s, dt in rows if k.startswith("valid") and s == "200"]) * 1e3
    hostile_ok = sum(1 for _, k, s, _ in rows if k.startswith("hostile") and s.isdigit() and 400 <= int(s) < 500)
    hostile = sum(1 for _, k, _, _ in rows if k.startswith("hostile"))
    return {"bench": "serve_soak", "minute": minute, "requests": len(rows), "status": statuses,
            "fivexx": sum(v for k, v in statuses.items() if k.isdigit() and int(k) >= 500),
            "latency_ms": {"p50": float(np.percentile(lat, 50)) if lat.size else None,
                           "p99": float(np.percentile(lat, 99)) if lat.size else None, "n": int(lat.size)},
            "hostile": hostile, "hostile_4xx": hostile_ok,
            "rss_mib": {"median": float(np.median(rss)) if rss else None, "max": max(rss) if rss else None,
                        "budget": budget, "over": bool(rss) and max(rss) > budget}}


def main() -> None:
    import httpx

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--load", type=float, default=0.8, help="share of the measured capacity to offer")
    p.add_argument("--hostile", type=float, default=0.1, help="share of hostile requests")
    p.add_argument("--sizes", default="128,256,512", help="photo sides (px) drawn per request")
    p.add_argument("--concurrency", type=int, default=8, help="clients while measuring capacity")
    p.add_argument("--calibrate-s", type=float, default=60.0)
    p.add_argument("--rss-budget-mib", type=float, default=3072.0, help="the server's RSS budget")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--flags", default="", help="extra `styljax serve` flags (default: none, its defaults)")
    args = p.parse_args()
    os.chdir(Path(__file__).resolve().parents[1])
    emit({"bench": "serve_soak", "machine": machine_info(), "args": vars(args)})
    server = Server(args.flags.split())
    try:
        models = {m["name"]: [s["name"] for s in m["styles"]] for m in httpx.get(server.url + "/v1/styles").json()["models"]}
        work = Workload(models, [int(s) for s in args.sizes.split(",")], args.hostile, args.seed)
        log("warming up: every size once per model")
        with httpx.Client(timeout=600) as c:
            for _ in range(2 * len(models) * len(work.images)):
                send(c, server.url, *work.valid())
        cap = capacity(server.url, work, args.calibrate_s, args.concurrency)
        rate = args.load * cap
        emit({"bench": "serve_soak", "phase": "capacity", "capacity_rps": cap, "offered_rps": rate})
        log(f"capacity {cap:.2f} req/s; offering {rate:.2f} req/s for {args.minutes} min")
        stop_rss = rss_sampler(server.proc.pid)
        rows: list[tuple[float, str, str, float]] = []
        lock = threading.Lock()
        t0 = time.perf_counter()
        t_end = t0 + 60 * args.minutes
        client = httpx.Client(timeout=120, limits=httpx.Limits(max_connections=256))
        pool = concurrent.futures.ThreadPoolExecutor(256)
        arrivals = random.Random(args.seed + 1)

        def fire(kind, req, t_sent):
            k, s, dt = send(client, server.url, kind, req)
            with lock:
                rows.append((t_sent - t0, k, s, dt))

        next_t = t0
        while next_t < t_end:  # open loop: arrivals do not wait for answers
            now = time.perf_counter()
            if next_t > now:
                time.sleep(next_t - now)
            kind, req = work.next()
            pool.submit(fire, kind, req, time.perf_counter())
            next_t += arrivals.expovariate(rate)
        pool.shutdown(wait=True)
        client.close()
        rss = stop_rss()
    finally:
        server.stop()
    per_sample = 0.25  # rss_sampler's period
    total = {"requests": 0, "fivexx": 0, "lost": 0}
    over = False
    for minute in range(int(np.ceil(args.minutes))):
        in_min = [r for r in rows if minute * 60 <= r[0] < (minute + 1) * 60]
        rss_min = rss[int(minute * 60 / per_sample): int((minute + 1) * 60 / per_sample)]
        line = minute_line(minute, in_min, rss_min, args.rss_budget_mib)
        emit(line)
        total["requests"] += line["requests"]
        total["fivexx"] += line["fivexx"]
        total["lost"] += sum(v for k, v in line["status"].items() if not k.isdigit())
        over |= line["rss_mib"]["over"]
    emit({"bench": "serve_soak", "summary": True, **total, "rss_over_budget": over,
          "rss_max_mib": max(rss) if rss else None, "capacity_rps": cap, "offered_rps": rate})


if __name__ == "__main__":
    main()
