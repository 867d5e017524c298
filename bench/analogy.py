"""Deep Image Analogy: correspondence accuracy (PCK, EPE) and end-to-end time / memory per stage.

    python -m bench.analogy [--cases pck,timing] [--sizes 224,448] [--pck-size 256]
                            [--deconv-iters 10,15,25,100] [--nnf patchmatch|auto|exact] [--seed 0]
    python -m bench.analogy --cases mrf-sheet [--sheet-size 256] [--sheet-out docs/mrf_comparison.jpg] \
        > bench/results/mrf_sheet.jsonl

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
mrf-sheet  the paper's comparison: neural style (Gatys, Gram loss) | MRF (Li & Wand, `--style-loss
        mrf`) | DIA A′, each with its library defaults, on one Kodak photo against two paintings
        (`SHEET_PAIRS`) at `--sheet-size` max side; one line per (pair, method) with its seconds
        (first-call compilation included, as a user meets it), and the sheet
        photo | painting | Gatys | MRF | DIA A′ per pair at `--sheet-out`. Results are cached in
        `--workdir`/mrf_sheet (PNG + JSON per result); `--sheet-methods` runs a subset.
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
from styljax.io import image, weights
from styljax.imaging import geometry
from styljax.imaging import sheets
from styljax.optimization import analogy, patchmatch

CASES = ("pck", "timing")  # mrf-sheet runs only when named
ALPHAS = (0.05, 0.1)


def _skimage(name: str) -> np.ndarray:
    import skimage.data

    return np.asarray(getattr(skimage.data, name)(), np.float32) / 255.0


def _fit(img: np.ndarray, max_side: int) -> np.ndarray:
    return np.asarray(geometry.resize(jnp.asarray(img), image.fit_max_side(*img.shape[:2], max_side)))


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
    from styljax.nets import stylebank as sb
    from styljax.stores import stylebank_store

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


def bench_config(args) -> analogy.AnalogyConfig:
    """Defaults, or the --deconv-iters / --nnf / --seed given (the ablations of BENCHMARKS.md)."""
    kw = {"seed": args.seed}
    if args.deconv_iters:
        iters = [int(n) for n in args.deconv_iters.split(",")]
        kw["deconv_iters"] = iters[0] if len(iters) == 1 else tuple(iters)
    if args.nnf:
        kw["nnf"] = args.nnf
    return analogy.AnalogyConfig(**kw)


def case_pck(vgg, args) -> None:
    cfg = bench_config(args)
    key = jax.random.key(0)
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    makers = {"stereo": lambda: stereo_pair(args.pck_size),
              f"warp+{args.style}": lambda: warped_pair(args.pck_size, args.model, args.style)}
    wanted = args.pairs.split(",") if args.pairs else list(makers)
    pairs = {name: makers[name]() for name in wanted}
    for name, (a, bp, truth, valid) in pairs.items():
        t0 = time.perf_counter()
        res = analogy.analogy(vgg, a, bp, cfg)
        t_dia = time.perf_counter() - t0
        image.save_image(Path(args.workdir) / f"pck_{name}_a_prime.png", res.a_prime)
        direction = "ab" if name == "stereo" else "ba"
        dia_nnf = res.nnf_ab if direction == "ab" else res.nnf_ba
        t0 = time.perf_counter()
        raw_nnf = raw_patchmatch(a, bp, key) if direction == "ab" else raw_patchmatch(bp, a, key)
        t_raw = time.perf_counter() - t0
        size = max(truth.shape[:2])
        for method, nnf, t in (("dia", dia_nnf, t_dia), ("patchmatch_raw_pixels", raw_nnf, t_raw)):
            extra = ({"config": {"deconv_iters": cfg.deconv_iters, "nnf": cfg.nnf, "seed": cfg.seed},
                      "stage_s": res.seconds, "levels": res.levels} if method == "dia" else {})
            emit({"case": "pck", "pair": name, "method": method, "direction": direction, "size": list(a.shape[:2]),
                  **scores(nnf, truth, valid, size), "seconds": t, **extra})
            log(f"pck {name} {method}: {scores(nnf, truth, valid, size)}")


def restyled_chelsea(model: str, style: str) -> jax.Array:
    """B′ for the timing runs: scikit-image's chelsea through the shipped StyleBank model."""
    from styljax.nets import stylebank as sb
    from styljax.stores import stylebank_store

    params, cfg, _ = stylebank_store.load_model(model)
    return sb.stylize(params, jnp.asarray(_skimage("chelsea"))[None], style, cfg, clip=True)[0]


def timing_inputs(size: int, bp: jax.Array, style: str, directory: Path) -> tuple[Path, Path]:
    """A = astronaut, B′ = `bp` (chelsea restyled), both size × size PNGs."""
    a_path, bp_path = directory / f"astronaut_{size}.png", directory / f"chelsea_{style}_{size}.png"
    image.save_image(a_path, geometry.resize(jnp.asarray(_skimage("astronaut")), (size, size)))
    image.save_image(bp_path, geometry.resize(bp, (size, size)))
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


SHEET_PAIRS = (("kodak/kodim23", "starry_night"), ("kodak/kodim23", "the_scream"))
SHEET_METHODS = ("gatys", "mrf", "dia")


def _sheet_result(vgg, method: str, photo: np.ndarray, painting: np.ndarray, size: int) -> np.ndarray:
    """One method's result, each at its library defaults for a `size` px output."""
    if method == "dia":
        return analogy.analogy(vgg, photo, painting, analogy.AnalogyConfig()).a_prime
    from styljax.optimization import gatys

    if method == "mrf":  # the CLI's defaults: `--style-loss mrf` runs 3 scales
        sizes = gatys.halving_sizes(size, 3)
        cfg = gatys.GatysConfig(**{**gatys.MRF_DEFAULTS, "sizes": sizes, "steps": gatys.default_steps(3, "mrf")})
    else:
        sizes = gatys.halving_sizes(size, 2)
        cfg = gatys.GatysConfig(sizes=sizes, steps=gatys.default_steps(2))
    return gatys.stylize(vgg, photo, [painting], cfg)


def case_mrf_sheet(vgg, args) -> None:
    """Gatys | MRF | DIA A′ on `SHEET_PAIRS`: a JSON line per result and the sheet."""
    cache = Path(args.workdir) / "mrf_sheet"
    cache.mkdir(parents=True, exist_ok=True)
    methods = args.sheet_methods.split(",")
    tiles, labels = [], []
    for photo_name, painting_name in SHEET_PAIRS:
        photo = image.load_image(Path(args.data) / "content" / f"{photo_name}.png", max_side=args.sheet_size)
        painting = image.load_image(Path(args.data) / "styles" / f"{painting_name}.jpg", max_side=args.sheet_size)
        row, row_labels = [photo, painting], ["photo", painting_name]
        for method in SHEET_METHODS:
            stem = cache / f"{Path(photo_name).name}_{painting_name}_{args.sheet_size}_{method}"
            if method in methods and not stem.with_suffix(".json").exists():
                log(f"mrf-sheet {stem.name} ...")
                t0 = time.perf_counter()
                out = np.asarray(_sheet_result(vgg, method, photo, painting, args.sheet_size), np.float32)
                seconds = time.perf_counter() - t0
                image.save_image(stem.with_suffix(".png"), out)
                record = {"case": "mrf-sheet", "photo": photo_name, "painting": painting_name, "method": method,
                          "size": list(out.shape[:2]), "seconds": seconds}
                stem.with_suffix(".json").write_text(json.dumps(record))
            if stem.with_suffix(".json").exists():
                emit(json.loads(stem.with_suffix(".json").read_text()))
                seconds = json.loads(stem.with_suffix(".json").read_text())["seconds"]
                row.append(image.load_image(stem.with_suffix(".png")))
                row_labels.append(f"{method} {seconds:.0f} s")
        tiles += row
        labels += row_labels
    if len(labels) == len(SHEET_PAIRS) * (2 + len(SHEET_METHODS)):
        sheet = sheets.contact_sheet(tiles, 2 + len(SHEET_METHODS), labels)
        image.save_image(args.sheet_out, sheet, quality=90)
        log(f"wrote {args.sheet_out}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--sizes", default="224,448")
    p.add_argument("--pck-size", type=int, default=256)
    p.add_argument("--model", default="checkpoints/stylebank")
    p.add_argument("--style", default="starry-night")
    p.add_argument("--weights", default=None)
    p.add_argument("--pairs", default=None, help="pck pairs to run (default: stereo and warp+STYLE)")
    p.add_argument("--deconv-iters", default=None, help="pck: L-BFGS caps, one or one per deconvolution")
    p.add_argument("--nnf", default=None, choices=("patchmatch", "auto", "exact"), help="pck: NNF method")
    p.add_argument("--seed", type=int, default=0, help="pck: PatchMatch seed")
    p.add_argument("--workdir", default="/tmp/bench_analogy", help="inputs and outputs of the timing runs")
    p.add_argument("--sheet-size", type=int, default=256, help="mrf-sheet: max side of every image, px")
    p.add_argument("--sheet-methods", default=",".join(SHEET_METHODS), help="mrf-sheet: methods to (re)compute")
    p.add_argument("--data", default="../shared/data", help="mrf-sheet: the shared data folder")
    p.add_argument("--sheet-out", default="docs/mrf_comparison.jpg")
    args = p.parse_args(argv)
    emit({"bench": "analogy", "kind": "header", **machine_info()})
    cases = args.cases.split(",")
    if "pck" in cases:
        case_pck(weights.resolve(args.weights), args)
    if "timing" in cases:
        case_timing(args)
    if "mrf-sheet" in cases:
        case_mrf_sheet(weights.resolve(args.weights), args)


if __name__ == "__main__":
    main()
