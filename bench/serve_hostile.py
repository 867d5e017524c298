"""`styljax serve` under hostile clients (issue #23), on loopback: a well-behaved client keeps sending
small photos while a hostile one walks image sizes and injects every fault of the issue.

    python -m bench.serve_hostile > bench/results/serve_hostile.jsonl              # ~3 min, 2 cores
    python -m bench.serve_hostile --legacy --phases baseline,walk                  # the service before #23
    python -m bench.serve_hostile --engine ray --replicas 2 > bench/results/serve_hostile_ray.jsonl

Starts `styljax serve` (the shipped StyleBank, `--max-batch 4`, default buckets, background
warm-up, an admin token file, `--max-added-styles 4`, short client timeouts) as its own process on
127.0.0.1 and waits until every program is compiled (bounded). Then, all bounded in count and time:

* `baseline`: the good client alone, `--good` sequential requests (a 64×64 photo, a random style).
* `walk`: the same while a hostile client walks `--walk` image sizes it never used (56-496 px
  longest side, odd aspect ratios), one request each: the good client's latency, the programs
  compiled before/after (equal: nothing compiles while serving).
* `faults`: the same while the hostile client runs the whole list of issue #23 once (wrong-shape,
  NaN, oversized-value, bad-meta, 1 GiB npz-bomb styles; anonymous and over-cap uploads;
  `Content-Length: 100` + a 64 MiB chunked body; PNG/GIF bombs; eight 3 KB 4898² PNGs at once;
  NaN/inf/1e308 fusion weights; slow headers; a slow body), each checked against its expected
  answer; /healthz latency is sampled during the npz bomb.

Server RSS (psutil) is reported before the faults, at its peak during them and after a 2 s settle
(`--engine ray`: the server process and its descendants, i.e. the local Ray cluster's workers and
replicas; the header timeout there is Serve's proxy's, not `--header-timeout`).
Every answer the good client gets must be 200 (counted). `--legacy` starts the server with the old
flags only (for the before figures; run from a checkout of the old service).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import io
import json
import os
import random
import socket
import struct
import tempfile
import threading
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np

from bench.common import emit, log, machine_info
from bench.serve_load import Server, rss_sampler

TOKEN = "bench-admin-token-" + "0123456789abcdef"


def png(h: int, w: int, seed: int = 0) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / 9.0
    img = np.stack([0.5 + 0.4 * np.sin(x + y), 0.5 + 0.4 * np.cos(0.7 * x - y), 0.4 + 0.3 * rng.random((h, w))], -1)
    buf = io.BytesIO()
    Image.fromarray((img * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def pct(values: list[float]) -> dict:
    v = np.asarray(values) * 1e3
    if not v.size:
        return {"n": 0}
    return {"n": int(v.size), "p50_ms": float(np.percentile(v, 50)), "p90_ms": float(np.percentile(v, 90)),
            "max_ms": float(v.max())}


class GoodClient:
    """Sequential requests (a small photo, a random style) until stopped or `limit` sent; every
    status and latency recorded."""

    def __init__(self, url: str, styles: list[str], timeout: float):
        self.url, self.styles, self.timeout = url, styles, timeout
        self.photo = png(64, 64)
        self.latency: list[float] = []
        self.status: dict[str, int] = {}
        self._stop = threading.Event()

    def one(self, rng) -> None:
        import httpx

        t = time.perf_counter()
        try:
            r = httpx.post(self.url + "/v1/stylize", files={"image": ("p.png", self.photo, "image/png")},
                           data={"style": rng.choice(self.styles)}, timeout=self.timeout)
            code = str(r.status_code)
        except httpx.HTTPError as e:
            code = type(e).__name__
        self.status[code] = self.status.get(code, 0) + 1
        if code == "200":
            self.latency.append(time.perf_counter() - t)

    def run(self, limit: int, seed: int = 0) -> None:
        rng = random.Random(seed)
        for _ in range(limit):
            if self._stop.is_set():
                return
            self.one(rng)

    @contextlib.contextmanager
    def alongside(self, limit: int):
        """Run in a thread while the body runs (then until `limit` or stop)."""
        self._stop.clear()
        t = threading.Thread(target=self.run, args=(limit,), daemon=True)
        t.start()
        try:
            yield self
        finally:
            self._stop.set()
            t.join(timeout=self.timeout + 5)

    def reset(self) -> None:
        self.latency, self.status = [], {}


def wait_warm(url: str, deadline_s: float) -> dict:
    import httpx

    t0 = time.perf_counter()
    while True:
        health = httpx.get(url + "/healthz", timeout=10).json()
        c = health.get("compiled")
        if c is None or c["pending"] == 0 or time.perf_counter() - t0 > deadline_s:
            return {"warm_s": time.perf_counter() - t0, "compiled": c}
        time.sleep(1.0)


def programs(url: str):
    import httpx

    m = httpx.get(url + "/metrics", timeout=10).json()
    return (m.get("compiled") or {}).get("programs"), m.get("compiled_shapes")


# ------------------------------------------------------------------------------- the faults


def style_files(model_dir: Path, tmp: Path) -> dict[str, bytes]:
    """A valid exported style and its hostile variants."""
    from styljax import methods
    from styljax.io import store

    st = methods.store_for_model(model_dir)
    name = st.list_styles(model_dir)[0]
    path = st.export_style(model_dir, name, tmp / "good.npz")
    tree, meta = store.load_tree(path)
    meta = {k: v for k, v in meta.items() if k != "sha256"}

    def mapped(fn):
        return {k: v for k, v in store.unflatten({k: fn(a) for k, a in store.flatten(tree).items()}).items()}

    def saved(t, n):
        return store.save_tree(tmp / n, t, meta).read_bytes()

    out = {"good": path.read_bytes(),
           "wrong_shape": saved(mapped(lambda a: np.concatenate([a, a[..., :1]], -1)), "wide.npz"),
           "nan": saved(mapped(lambda a: np.full_like(a, np.nan)), "nan.npz"),
           "huge": saved(mapped(lambda a: a * 1e6 + 1e6), "huge.npz")}
    flat = store.flatten(tree)
    buf = io.BytesIO()
    np.savez(buf, **flat, **{store.META_KEY: np.array("[1, 2]")})
    out["bad_meta"] = buf.getvalue()
    first = sorted(flat)[0]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, a in flat.items():
            with zf.open(f"{k}.npy", "w", force_zip64=True) as f:
                if k == first:  # declares 2^28 float32 = 1 GiB: ~1 MiB of deflated zeros here
                    np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (2**28,)})
                    for _ in range(1024):
                        f.write(bytes(1 << 20))
                else:
                    np.save(f, a)
        with zf.open(f"{store.META_KEY}.npy", "w") as f:
            np.save(f, np.array(json.dumps({**meta, "sha256": "0" * 64})))
    out["npz_bomb"] = buf.getvalue()
    return out


def png_header(w: int, h: int) -> bytes:
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def gif_header(w: int, h: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("P", (1, 1)).save(buf, "GIF")
    g = bytearray(buf.getvalue())
    i = g.index(b"\x2c", 13)
    g[6:10] = struct.pack("<HH", w, h)
    g[i + 5: i + 9] = struct.pack("<HH", w, h)
    return bytes(g)


def raw_exchange(port: int, head: bytes, body_chunks=(), trickle_s: float = 0.0, limit_s: float = 30.0) -> dict:
    """Speak HTTP by hand: send `head`, then the chunks (stopping when the server closes), read the
    answer. Returns the status line, the bytes sent and the seconds until the server closed."""
    sent, t0, closed_early = 0, time.perf_counter(), False
    with socket.create_connection(("127.0.0.1", port), timeout=limit_s) as s:
        try:
            if trickle_s:
                for b in head:
                    s.send(bytes([b]))
                    time.sleep(trickle_s)
                    if time.perf_counter() - t0 > limit_s:
                        break
            else:
                s.sendall(head)
            for c in body_chunks:
                s.sendall(c)
                sent += len(c)
        except (BrokenPipeError, ConnectionResetError):
            closed_early = True
        answer = b""
        with contextlib.suppress(OSError):
            s.settimeout(max(0.1, limit_s - (time.perf_counter() - t0)))
            while chunk := s.recv(65536):
                answer += chunk
    line = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    return {"status_line": line, "body_sent": sent, "closed_after_s": time.perf_counter() - t0,
            "closed_while_sending": closed_early}


def faults(url: str, port: int, model: str, files: dict[str, bytes], styles: list[str], rss_now) -> list[dict]:
    """The hostile client's list: (name, expected, what happened)."""
    import httpx

    admin = {"Authorization": f"Bearer {TOKEN}"}
    out = []

    def record(name: str, expect, got, **extra):
        ok = got in expect if isinstance(expect, set) else got == expect
        out.append({"fault": name, "expect": sorted(expect) if isinstance(expect, set) else expect, "got": got,
                    "ok": bool(ok), **extra})
        log(f"  {name}: expect {expect}, got {got} {'ok' if ok else 'FAILED'} {extra or ''}")

    def upload(data: bytes, name: str, headers=admin):
        r = httpx.post(f"{url}/v1/models/{model}/styles", files={"file": ("s.npz", data)}, data={"name": name},
                       headers=headers, timeout=60)
        return r.status_code

    def stylize(image: bytes, style: str | None = None, **form):
        r = httpx.post(url + "/v1/stylize", files={"image": ("p.png", image, "image/png")},
                       data={"style": style or styles[0], **form}, timeout=120)
        return r.status_code

    record("anonymous style upload", 401, upload(files["good"], "anon", headers={}))
    record("wrong-token style upload", 401, upload(files["good"], "anon", headers={"Authorization": "Bearer nope"}))
    for kind in ("wrong_shape", "nan", "huge", "bad_meta"):
        record(f"style: {kind}", 400, upload(files[kind], kind))
    # the npz bomb, with /healthz sampled meanwhile
    health, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            t = time.perf_counter()
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(url + "/healthz", timeout=30)
                health.append(time.perf_counter() - t)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t = time.perf_counter()
    code = upload(files["npz_bomb"], "bomb")
    dt = time.perf_counter() - t
    stop.set()
    sampler.join()
    record("style: npz bomb (1 MiB holding a 1 GiB member)", 413, code, seconds=dt, upload_bytes=len(files["npz_bomb"]),
           healthz_during=pct(health))
    # the cap on added styles (the bench server allows 4)
    codes = [upload(files["good"], f"extra{i}") for i in range(5)]
    record("5 valid styles, cap 4", [201, 201, 201, 201, 409], codes)
    for i in range(4):
        httpx.delete(f"{url}/v1/models/{model}/styles/extra{i}", headers=admin, timeout=30)
    # bodies: over the cap by headers, and by a lying Content-Length with a chunked body
    prefix = (b'--B\r\nContent-Disposition: form-data; name="style"\r\n\r\n' + styles[0].encode() + b'\r\n'
              b'--B\r\nContent-Disposition: form-data; name="image"; filename="p.png"\r\nContent-Type: image/png\r\n\r\n')
    chunks = [prefix] + [b"x" * 65536] * 1024  # a well-formed start, then a 64 MiB file part
    r = raw_exchange(port, b"POST /v1/stylize HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
                           b"Content-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n",
                     (b"%x\r\n%s\r\n" % (len(c), c) for c in chunks))
    # the server reads up to the cap (16 MiB) and answers 413; loopback socket buffers take a few MiB more
    record("Content-Length: 100 + 64 MiB chunked", True, r["body_sent"] < 32 << 20 and
           (not r["status_line"] or " 413 " in r["status_line"] + " "), **r)
    # images: bombs, and eight 3 KB PNGs declaring 4898² at once
    for name, data in (("png 30000²", png_header(30000, 30000)), ("gif 65535²", gif_header(65535, 65535)),
                       ("png 1×(2³¹−1)", png_header(1, 2**31 - 1))):
        record(f"image bomb: {name}", 413, stylize(data))
    from PIL import Image

    def burst(image: bytes) -> tuple[list[int], dict]:
        peak, before = [], rss_now()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futs = [pool.submit(stylize, image) for _ in range(8)]
            while not all(f.done() for f in futs):
                peak.append(rss_now())
                time.sleep(0.1)
        return [f.result() for f in futs], {"rss_mib_before": before, "rss_mib_peak": max(peak, default=before),
                                             "rss_mib_after": rss_now()}

    codes, rss = burst(png(512, 512))  # the control: eight ordinary 512² photos render the same bucket
    record("control: 8 ordinary 512² PNGs at once", [200] * 8, codes, **rss)
    buf = io.BytesIO()
    Image.new("1", (4898, 4898)).save(buf, "PNG", optimize=True)
    codes, rss = burst(buf.getvalue())
    record(f"8 × {len(buf.getvalue())} B PNG declaring 4898² at once", [200] * 8, codes, **rss)
    for spec in (f"{styles[0]}:nan,{styles[1]}:1", f"{styles[0]}:inf,{styles[1]}:1",
                 f"{styles[0]}:1e308,{styles[1]}:1e308"):
        record(f"fusion weights {spec}", 400, stylize(png(64, 64), spec))
    # slow clients
    r = raw_exchange(port, b"POST /v1/stylize HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200, trickle_s=0.1, limit_s=30)
    record("headers a byte every 0.1 s", True, r["closed_after_s"] < 10, **r)
    r = raw_exchange(port, b"POST /v1/stylize HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
                           b"Content-Length: 100000\r\n\r\n--B\r\n", limit_s=30)
    record("body stalls after 5 bytes", True, " 408 " in r["status_line"] + " ", **r)
    return out


def sampled(read):
    """`serve_load.rss_sampler` over any reading (`--engine ray`: a process tree's RSS)."""
    samples, stop = [], threading.Event()

    def loop():
        while not stop.is_set():
            samples.append(read())
            stop.wait(0.25)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return lambda: (stop.set(), t.join(), samples)[2]


# ------------------------------------------------------------------------------------- main


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="stylebank")
    p.add_argument("--good", type=int, default=20, help="good-client requests per phase")
    p.add_argument("--walk", type=int, default=12, help="new image sizes the hostile client walks")
    p.add_argument("--phases", default="baseline,walk,faults")
    p.add_argument("--warm-deadline", type=float, default=240.0, help="seconds to wait for the warm-up")
    p.add_argument("--legacy", action="store_true", help="the old server's flags only (before issue #23)")
    p.add_argument("--engine", default="local", choices=("local", "ray"), help="`styljax serve --engine`")
    p.add_argument("--replicas", type=int, default=2, help="--engine ray: Serve replicas")
    args = p.parse_args()
    os.chdir(Path(__file__).resolve().parents[1])
    emit({"bench": "serve_hostile", "machine": machine_info()})
    model_dir = Path("checkpoints") / args.model
    tmp = Path(tempfile.mkdtemp(prefix="serve_hostile_"))
    (tmp / "token").write_text(TOKEN)
    flags = ["--model", f"{args.model}={model_dir}", "--max-batch", "4", "--timeout", "120"]
    if args.legacy:
        flags += ["--warmup", "64"]  # the good client's size, every batch size
    else:
        flags += ["--admin-token-file", str(tmp / "token"), "--max-added-styles", "4", "--warmup", "background",
                  "--header-timeout", "2", "--body-timeout", "3"]
    if args.engine == "ray":
        flags += ["--engine", "ray", "--replicas", str(args.replicas)]
    log(f"starting serve {' '.join(flags)}")
    t0 = time.perf_counter()
    server = Server(flags)
    try:
        import httpx
        import psutil

        proc = psutil.Process(server.proc.pid)

        def rss_now() -> float:
            total = 0
            for q in [proc, *(proc.children(recursive=True) if args.engine == "ray" else [])]:
                with contextlib.suppress(psutil.Error):
                    total += q.memory_info().rss
            return total / 2**20

        warm = wait_warm(server.url, args.warm_deadline)
        warm["start_to_warm_s"] = time.perf_counter() - t0
        log(f"warm: {warm}")
        styles = [s["name"] for s in httpx.get(server.url + "/v1/styles").json()["models"][0]["styles"]]
        good = GoodClient(server.url, styles, timeout=120)
        good.run(3, seed=99)  # unmeasured: first-request effects
        emit({"bench": "serve_hostile", "phase": "start", "legacy": args.legacy, "flags": " ".join(flags), **warm,
              "rss_mib": rss_now()})
        phases = args.phases.split(",")
        if "baseline" in phases:
            good.reset()
            good.run(args.good, seed=1)
            emit({"bench": "serve_hostile", "phase": "baseline", "legacy": args.legacy, "good_status": good.status,
                  "good_latency": pct(good.latency), "rss_mib": rss_now()})
        if "walk" in phases:
            rng = np.random.default_rng(7)
            sides = np.linspace(56, 496, args.walk).astype(int)
            sizes = [(int(s), int(max(16, s * a))) for s, a in zip(sides, rng.uniform(0.45, 0.95, args.walk))]
            before = programs(server.url)
            walk_status, walk_latency = {}, []
            good.reset()
            with good.alongside(args.good):
                time.sleep(0.3)
                for i, (w, h) in enumerate(sizes):
                    t = time.perf_counter()
                    r = httpx.post(server.url + "/v1/stylize", files={"image": ("w.png", png(h, w, i), "image/png")},
                                   data={"style": styles[i % len(styles)], "size": str(max(h, w))}, timeout=300)
                    walk_latency.append(time.perf_counter() - t)
                    walk_status[str(r.status_code)] = walk_status.get(str(r.status_code), 0) + 1
            emit({"bench": "serve_hostile", "phase": "walk", "legacy": args.legacy, "walked_sizes_wxh": sizes,
                  "hostile_status": walk_status, "hostile_latency": pct(walk_latency),
                  "good_status": good.status, "good_latency": pct(good.latency),
                  "programs_before_after": [before, programs(server.url)], "rss_mib": rss_now()})
        if "faults" in phases and not args.legacy:
            files = style_files(model_dir, tmp)
            stop = rss_sampler(server.proc.pid) if args.engine == "local" else sampled(rss_now)
            rss_before = rss_now()
            good.reset()
            t = time.perf_counter()
            with good.alongside(10_000):  # until the fault list is done
                results = faults(server.url, server.port, args.model, files, styles, rss_now)
            dt = time.perf_counter() - t
            samples = stop()
            time.sleep(2.0)
            emit({"bench": "serve_hostile", "phase": "faults", "seconds": dt, "faults": results,
                  "faults_ok": sum(r["ok"] for r in results), "faults_total": len(results),
                  "good_status": good.status, "good_latency": pct(good.latency),
                  "rss_mib": {"before": rss_before, "peak": max(samples, default=rss_before), "after_settle": rss_now()},
                  "programs_after": programs(server.url),
                  "server_status_counts": httpx.get(server.url + "/metrics").json()["requests"]})
    finally:
        server.stop()
    log(f"done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
