"""Batch inference throughput: `styljax stylize --engine ray` against the plain CLI on the same folder,
and Ray's scaling from one to two workers (issue #37).

    pip install -e '.[ray]'
    python -m bench.ray_batch [--photos 500] [--size 512] [--method cin] [--style wave] [--batch 8] \
        > bench/results/ray_batch.jsonl

A folder of `--photos` synthetic photos (`--size` px longest side, 3:2, JPEG) is made once in a
temporary folder; each case runs `styljax stylize` as its own process into a fresh output folder
(cold: the process start, model load, compilation and, for Ray, the cluster's start count, as
a user sees them) and reports images/s from the wall clock of the whole command, plus the images/s
the command's own summary line prints (the rendering loop alone). Cases: `cli` (the local engine,
--batch), `ray-1` and `ray-2` (--engine ray with 1 and 2 workers, each reserving
`--worker-cpus`). One JSON line per case after a header line (`bench.common`).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import emit, log, machine_info


def make_photos(folder: Path, n: int, size: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    h, w = size * 2 // 3, size
    base = rng.uniform(size=(h // 8, w // 8, 3))
    for i in range(n):  # smooth random scenes (JPEG of white noise is not a photo)
        small = np.clip(base + 0.15 * rng.standard_normal(base.shape), 0, 1)
        im = Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
        im.save(folder / f"photo{i:05d}.jpg", quality=90)


def run_case(name: str, argv: list[str], n: int) -> dict:
    log(f"{name}: {' '.join(argv)}")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "styljax.infer.cli", *argv], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        log(proc.stderr[-2000:])
    summary = re.search(r"\(([\d.]+) (?:images|inputs)/s", proc.stdout)
    return {"kind": "case", "case": name, "rc": proc.returncode, "photos": n, "wall_s": round(wall, 2),
            "images_per_s_wall": round(n / wall, 3), "images_per_s_loop": float(summary.group(1)) if summary else None,
            "summary": proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()[-300:]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=500)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--method", default="cin")
    ap.add_argument("--model", default=None, help="model directory (default: the shipped one)")
    ap.add_argument("--style", default="wave")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--worker-cpus", type=float, default=1.0)
    ap.add_argument("--cases", default="cli,ray-1,ray-2")
    args = ap.parse_args(argv)
    emit({**machine_info(), "bench": "ray_batch", "photos": args.photos, "size": args.size, "method": args.method,
          "style": args.style, "batch": args.batch})
    with tempfile.TemporaryDirectory(prefix="styljax-ray-bench-") as tmp:
        src = Path(tmp) / "in"
        make_photos(src, args.photos, args.size)
        common = ["stylize", "--method", args.method, "--style", args.style, str(src), "--batch", str(args.batch),
                  "--quiet"] + (["--model", args.model] if args.model else [])
        for case in args.cases.split(","):
            out = ["--out", str(Path(tmp) / f"out-{case}")]
            if case == "cli":
                emit(run_case(case, common + out, args.photos))
            elif case.startswith("ray-"):
                workers = case.split("-", 1)[1]
                emit(run_case(case, common + out + ["--engine", "ray", "--workers", workers,
                                                    "--worker-cpus", str(args.worker_cpus)], args.photos))
            else:
                raise SystemExit(f"unknown case {case!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
