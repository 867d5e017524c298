"""What a new user waits for (issue #34): how fast a refused size answers, and how fast the web
page's thumbnails arrive, cold and from the disk cache.

    python -m bench.first_hour [--repeats 3] > bench/results/first_hour.jsonl

Cases (one JSON line each, after `bench.common`'s header line):
- `huge_size`: `styljax stylize --method stylebank --size 99999 PHOTO` as its own process (the
  issue's command): wall seconds to its exit status and its peak RSS (the child's rusage). The
  target is under a second of work after the interpreter starts; `noop` (`styljax --version`) is
  the interpreter's own start-up, for comparison.
- `thumbnails_cold` / `thumbnails_disk`: a fresh service (`serve_app.create_app`, the shipped models) and
  every style's thumbnail requested once, with an empty thumbnail cache and then with the one the
  first run left on disk: seconds until the last thumbnail arrived.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import emit, log, machine_info


def child(argv: list[str], env: dict | None = None) -> tuple[float, int, float]:
    """(wall s, exit status, peak RSS GiB) of one process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - t0, os.waitstatus_to_exitcode(status), usage.ru_maxrss / 2**20


def thumbnails_once() -> tuple[float, int]:
    """A fresh app over the shipped models; every thumbnail once: (seconds, count)."""
    from fastapi.testclient import TestClient

    from styljax.infer import serve, serve_app

    app = serve_app.create_app(serve_app.load_models(serve.default_models()))
    with TestClient(app) as c:
        urls = [s["thumbnail"] for m in c.get("/v1/styles").json()["models"] for s in m["styles"]]
        t0 = time.perf_counter()
        for u in urls:
            assert c.get(u).status_code == 200
        return time.perf_counter() - t0, len(urls)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    emit(machine_info())
    with tempfile.TemporaryDirectory() as tmp:
        from styljax.io import image

        photo = Path(tmp) / "photo.png"
        image.save_image(photo, np.random.default_rng(0).uniform(size=(152, 400, 3)).astype(np.float32))
        cli = [sys.executable, "-m", "styljax.infer.cli"]
        for case, argv in (("noop", [*cli, "--version"]),
                           ("huge_size", [*cli, "stylize", "--method", "stylebank", "--size", "99999", str(photo),
                                          "--style", "wave", "--out", str(Path(tmp) / "o.png")])):
            for r in range(args.repeats):
                wall, rc, rss = child(argv)
                emit({"case": case, "repeat": r, "wall_s": wall, "exit": rc, "peak_rss_gib": rss})
        os.environ["STYLJAX_CACHE"] = str(Path(tmp) / "cache")  # an empty thumbnail cache (no weights needed)
        for case in ("thumbnails_cold", "thumbnails_disk"):
            log(f"{case}: rendering every shipped style's thumbnail")
            seconds, n = thumbnails_once()
            emit({"case": case, "thumbnails": n, "seconds": seconds})


if __name__ == "__main__":
    main()
