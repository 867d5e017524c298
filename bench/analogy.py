"""Deep Image Analogy: correspondence accuracy (PCK, EPE) and end-to-end time / memory per stage.

    python -m bench.analogy [--cases pck,timing] [--sizes 224,448] [--pck-size 256]

Cases (one JSON line each; progress on stderr)
-----
pck     dense correspondence on pairs with known ground truth, for our DIA NNF and for PatchMatch on
        raw pixels (the paper's weak baseline: the same kernel on 5×5 RGB patches, mean-centred,
        10 iterations, whole-map search):
        - `stereo`: scikit-image's rectified Middlebury pair `stereo_motorcycle` with its disparity
          map (left pixel (y, x) ↔ right (y, x − d)); A = left, B′ = right; φ_a→b is scored on the
          pixels whose disparity is finite and whose match is inside the right image.
        - `warp+<style>`: a scikit-image photo A; B′ = A warped by a smooth random field and then
          restyled by the shipped StyleBank model (`--model`, style `--style`); B′(q) = A(q + u(q)),
          so φ_b→a is scored against q + u(q) on every pixel whose source is inside A.
        PCK@α = fraction of scored pixels whose match is within α·max(H, W) of the truth (α = 0.05,
        0.1); EPE = mean end-point error in pixels. Images are scaled to `--pck-size` max side.
timing  `styljax analogy` end to end (A = astronaut, B′ = chelsea restyled by StyleBank) at each
        `--sizes` (square inputs), each in a fresh process: seconds per stage from its
        summary.json (vgg, patchmatch, deconv, vote; first-call compilation included in each
        stage), wall time, peak resident memory of the process (ru_maxrss of the child).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bench.common import emit, log, machine_info
from styljax import analogy, image, patchmatch, weights

CASES = ("pck", "timing")
ALPHAS = (0.05, 0.1)


def _skimage(name: str) -> np.ndarray:
    import skimage.data

    return np.asarray(getattr(skimage.data, name)(), np.float32) / 255.0


def _fit(img: np.ndarray, max_side: int) -> np.ndarray:
    return np.asarray(image.resize(jnp.asarray(img), image.fit_max_side(*img.shape[:2], max_side)))


def scores(nnf: np.ndarray, truth: np.ndarray, valid: np.ndarray, size: int) -> dict:
    """PCK@α and EPE of `nnf` (H, W, 2) against float `truth` (H, W, 2) on `valid` pixels."""
    err = np.linalg.norm(nnf.astype(np.float32) - truth, axis=-1)[valid]
    return {**{f"pck@{a}": float((err <= a * size).mean()) for a in ALPHAS}, "epe": float(err.mean()),
            "pixels": int(valid.sum())}


def raw_patchmatch(a: np.ndarray, b: np.ndarray, key) -> np.ndarray:
    """The baseline: PatchMatch on mean-centred 5×5 RGB patches (75 channels), patch 3, 10 iterations."""

    def unfold(x):
        x = jnp.asarray(x) - jnp.asarray(x).mean(axis=(0, 1))
        p = jnp.pad(x, ((2, 2), (2, 2), (0, 0)), mode="reflect")
        h, w = x.shape[:2]
        return jnp.concatenate([p[dy : dy + h, dx : dx + w] for dy in range(5) for dx in range(5)], axis=-1)

    return np.asarray(patchmatch.patchmatch(unfold(a), unfold(b), patch_size=3, iters=10, key=key))


def stereo_pair(size: int):
    import skimage.data

    left, right, disp = skimage.data.stereo_motorcycle()
    s = size / max(left.shape[:2])
    a, bp = _fit(left / 255.0, size), _fit(right / 255.0, size)
    h, w = a.shape[:2]
    ys, xs = np.mgrid[:h, :w]
    # disparity at the scaled pixel centres (nearest), in scaled pixels
    d = disp[np.minimum((ys + 0.5) / s, disp.shape[0] - 1).astype(int), np.minimum((xs + 0.5) / s, disp.shape[1] - 1).astype(int)] * s
    truth = np.stack([ys, xs - d], axis=-1).astype(np.float32)
    valid = np.isfinite(d) & (xs - d >= 0)
    return a, bp, truth, valid


def warped_pair(size: int, model: str, style: str, seed: int = 0):
    """A photo, its smooth random warp restyled by StyleBank, and φ_b→a's truth q + u(q)."""
    from styljax.models import stylebank as sb
    from styljax.models import stylebank_store

    a = _fit(_skimage("chelsea"), size)
    h, w = a.shape[:2]
    rng = np.random.default_rng(seed)
    coarse = rng.normal(size=(4, 5, 2)).astype(np.float32) * 0.06 * max(h, w)  # ~6% of the size
    u = np.asarray(jax.image.resize(jnp.asarray(coarse), (h, w, 2), "cubic"))
    ys, xs = np.mgrid[:h, :w].astype(np.float32)
    src = np.stack([ys + u[..., 0], xs + u[..., 1]], axis=-1)
    warped = np.stack([jax.scipy.ndimage.map_coordinates(jnp.asarray(a[..., c]), [src[..., 0], src[..., 1]],
                                                         order=1, mode="nearest") for c in range(3)], axis=-1)
    params, cfg, _ = stylebank_store.load_model(model)
    bp = np.asarray(sb.stylize(params, jnp.asarray(warped)[None], style, cfg, clip=True)[0])
    valid = (src[..., 0] >= 0) & (src[..., 0] <= h - 1) & (src[..., 1] >= 0) & (src[..., 1] <= w - 1)
    return a, bp, src, valid


def case_pck(vgg, args) -> None:
    cfg = analogy.AnalogyConfig()
    key = jax.random.key(0)
    pairs = {"stereo": stereo_pair(args.pck_size), f"warp+{args.style}": warped_pair(args.pck_size, args.model, args.style)}
    for name, (a, bp, truth, valid) in pairs.items():
        t0 = time.perf_counter()
        res = analogy.analogy(vgg, a, bp, cfg)
        t_dia = time.perf_counter() - t0
        direction = "ab" if name == "stereo" else "ba"
        dia_nnf = res.nnf_ab if direction == "ab" else res.nnf_ba
        t0 = time.perf_counter()
        raw_nnf = raw_patchmatch(a, bp, key) if direction == "ab" else raw_patchmatch(bp, a, key)
        t_raw = time.perf_counter() - t0
        size = max(truth.shape[:2])
        for method, nnf, t in (("dia", dia_nnf, t_dia), ("patchmatch_raw_pixels", raw_nnf, t_raw)):
            emit({"case": "pck", "pair": name, "method": method, "direction": direction, "size": list(a.shape[:2]),
                  **scores(nnf, truth, valid, size), "seconds": t})
            log(f"pck {name} {method}: {scores(nnf, truth, valid, size)}")


def restyled_chelsea(model: str, style: str) -> jax.Array:
    """B′ for the timing runs: scikit-image's chelsea through the shipped StyleBank model."""
    from styljax.models import stylebank as sb
    from styljax.models import stylebank_store

    params, cfg, _ = stylebank_store.load_model(model)
    return sb.stylize(params, jnp.asarray(_skimage("chelsea"))[None], style, cfg, clip=True)[0]


def timing_inputs(size: int, bp: jax.Array, style: str, directory: Path) -> tuple[Path, Path]:
    """A = astronaut, B′ = `bp` (chelsea restyled), both size × size PNGs."""
    a_path, bp_path = directory / f"astronaut_{size}.png", directory / f"chelsea_{style}_{size}.png"
    image.save_image(a_path, image.resize(jnp.asarray(_skimage("astronaut")), (size, size)))
    image.save_image(bp_path, image.resize(bp, (size, size)))
    return a_path, bp_path


def case_timing(args) -> None:
    """`styljax analogy` end to end in a fresh process per size; stages from its summary.json."""
    work = Path(args.workdir)
    bp = restyled_chelsea(args.model, args.style)
    for size in (int(s) for s in args.sizes.split(",")):
        a_path, bp_path = timing_inputs(size, bp, args.style, work)
        out = work / f"out_{size}"
        cmd = [sys.executable, "-m", "styljax.infer.cli", "analogy", str(a_path), str(bp_path), "--out-dir", str(out),
               "--quiet"] + (["--weights", args.weights] if args.weights else [])
        log(f"timing {size}px: {' '.join(cmd)}")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        summary = json.loads((out / "summary.json").read_text())
        emit({"case": "timing", "size": size, "seconds": summary["seconds"], "analogy_wall_s": summary["wall_s"],
              "process_wall_s": wall, "peak_mib": peak / 1024 if peak > before else None,
              "network": summary["network"], "outputs": str(out)})


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--sizes", default="224,448")
    p.add_argument("--pck-size", type=int, default=256)
    p.add_argument("--model", default="checkpoints/stylebank")
    p.add_argument("--style", default="starry-night")
    p.add_argument("--weights", default=None)
    p.add_argument("--workdir", default="/tmp/bench_analogy", help="inputs and outputs of the timing runs")
    args = p.parse_args(argv)
    emit({"bench": "analogy", "kind": "header", **machine_info()})
    cases = args.cases.split(",")
    if "pck" in cases:
        case_pck(weights.resolve(args.weights), args)
    if "timing" in cases:
        case_timing(args)


if __name__ == "__main__":
    main()
