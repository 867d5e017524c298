"""StyleBank inference: one style, all styles, linear fusion or region fusion, over files or folders.

Style spec (`--style`): `NAME`, `all`, or `a:0.7,b:0.3` (linear fusion, weights normalised). With
`--regions K` or `--mask FILE` the spec lists one style per region (`a,b`), fused by
F̃ = Σ_r K_r ⊗ (M_r × F); regions come from K-means of the encoder features (paper) or from the
mask's grey levels (darkest = first style).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from infer import common
from styljax.errors import StyljaxError

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "checkpoints" / "stylebank"


def parse_style_spec(spec: str, known: list[str]) -> dict:
    """'all' | 'name' | 'a:0.7,b:0.3' | 'a,b' -> {"mode", "names", "weights"} with checked names."""
    if spec == "all":
        return {"mode": "all", "names": known, "weights": None}
    items = [t.strip() for t in spec.split(",") if t.strip()]
    names, weights = [], []
    for it in items:
        name, _, w = it.partition(":")
        names.append(name)
        try:
            weights.append(float(w) if w else 1.0)
        except ValueError:
            raise StyljaxError(f"--style: bad weight in {it!r}") from None
    unknown = [n for n in names if n not in known]
    if unknown:
        raise StyljaxError(f"--style: unknown styles {unknown}; this model has: {', '.join(known)}")
    if not names:
        raise StyljaxError("--style: empty")
    if len(names) == 1:
        return {"mode": "single", "names": names, "weights": None}
    if sum(weights) <= 0:
        raise StyljaxError(f"--style: fusion weights must sum to > 0, got {spec!r}")
    return {"mode": "fusion", "names": names, "weights": dict(zip(names, weights))}


def mask_regions(path: str, n: int, hw: tuple[int, int]) -> np.ndarray:
    """A mask image -> (n, H, W) one-hot regions by grey level (n equal bins, darkest first)."""
    from styljax import image

    grey = image.load_image(path, size=hw).mean(axis=-1)
    idx = np.minimum((grey * n).astype(int), n - 1)
    return np.stack([(idx == r).astype(np.float32) for r in range(n)])


def _outputs(inputs: list[Path], out: Path, tags: list[str]) -> dict:
    """Output path per (input, tag): a single file if one input and one tag and `out` has a suffix."""
    if len(inputs) == 1 and len(tags) == 1 and out.suffix:
        return {(inputs[0], tags[0]): out}
    if out.suffix:
        raise StyljaxError(f"{out}: several outputs need a folder, not a file name")
    return {(i, t): out / f"{i.stem}_{t}.png" for i in inputs for t in tags}


def run_stylebank(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp

    from styljax import image, tiling
    from styljax.models import stylebank as sb
    from styljax.models import stylebank_store

    # a style spec is one token: anything after it that argparse gave to --style is an input
    spec_text, extra_inputs = args.style[0], args.style[1:]
    srcs = extra_inputs + list(args.inputs) + ([args.content] if args.content else [])
    if not srcs:
        raise StyljaxError("stylebank: give input image(s) or a folder")
    inputs = [p for s in srcs for p in image.list_images(s)]
    model = Path(args.model) if args.model else DEFAULT_MODEL
    params, cfg, _ = stylebank_store.load_model(model)
    spec = parse_style_spec(spec_text, sorted(params["banks"]))
    regional = args.regions is not None or args.mask is not None
    if regional and spec["mode"] == "all":
        raise StyljaxError("--regions/--mask need one style per region, e.g. --style a,b")
    tile = args.tile
    overlap = min(64, tile // 4) if tile is not None and args.tile_overlap is None else args.tile_overlap
    if tile is not None:
        if tile < 16 or not 0 <= overlap < tile:
            raise StyljaxError(f"--tile needs >= 16 px and 0 <= --tile-overlap < --tile, got {tile}, {overlap}")
        if regional:
            raise StyljaxError("--tile works with one style, 'all' or a linear fusion (regions would differ per tile)")
    if args.regions is not None and args.regions != len(spec["names"]):
        raise StyljaxError(f"--regions {args.regions} needs {args.regions} styles in --style, got {len(spec['names'])}")
    tags = (spec["names"] if spec["mode"] == "all"
            else ["regions"] if regional
            else ["fusion"] if spec["mode"] == "fusion" else spec["names"])
    out = Path(args.out)
    targets = _outputs(inputs, out, tags)
    for p in set(targets.values()):
        image.check_output_path(p)

    fused = sb.fuse_linear(params["banks"], spec["weights"]) if spec["mode"] == "fusion" and not regional else None
    names = tuple(spec["names"])
    bar = common.progress(len(inputs), "stylebank", disable=args.quiet)
    t0 = time.perf_counter()
    kw = {} if args.max_pixels is None else {"max_pixels": args.max_pixels}
    # group same-size images into batches of --batch (one jit per size)
    loaded = [(p, image.load_image(p, max_side=args.size, **kw)) for p in inputs]
    by_shape: dict = {}
    for p, img in loaded:
        by_shape.setdefault(img.shape, []).append((p, img))
    written = []

    def render_tiled(img: np.ndarray) -> dict:
        """{tag: (H, W, 3)} for one image, through `styljax.tiling` (one compilation per tile shape)."""
        banks = ({n: params["banks"][n] for n in names} if spec["mode"] != "fusion" else {"fusion": fused})
        return {tag: tiling.map_tiles(lambda t: sb.stylize_bank(params, jnp.asarray(t), bank, cfg, clip=True),
                                      img, tile, overlap)[0] for tag, bank in banks.items()}

    for shape, items in by_shape.items():
        if tile is not None and max(shape[:2]) > tile:
            for p, img in items:
                for tag, o in render_tiled(img).items():
                    written.append(image.save_image(targets[(p, tag)], o))
                bar.update(1)
            continue
        for i in range(0, len(items), max(1, args.batch)):
            chunk = items[i : i + max(1, args.batch)]
            x = jnp.asarray(np.stack([im for _, im in chunk]))
            if spec["mode"] == "all":
                outs = sb.render_all(params, x, cfg, names, clip=True)  # (K, B, H, W, 3)
                results = {t: outs[k] for k, t in enumerate(names)}
            elif regional:
                f = sb.encode(params, x, cfg)
                if args.mask:
                    m = np.stack([mask_regions(args.mask, len(names), shape[:2]) for _ in chunk])
                    masks = sb.region_masks_for(jnp.asarray(m), cfg)
                else:
                    masks = sb.kmeans_masks(f, len(names), jax.random.key(0))
                g = sb.fuse_regions(params, f, masks, names, cfg)
                results = {"regions": jnp.clip(sb.decode(params, g, cfg, shape[:2]), 0, 1)}
            elif fused is not None:
                results = {"fusion": sb.stylize_bank(params, x, fused, cfg, clip=True)}
            else:
                results = {names[0]: sb.stylize(params, x, names[0], cfg, clip=True)}
            for tag, batch_out in results.items():
                for (p, _), o in zip(chunk, np.asarray(batch_out)):
                    written.append(image.save_image(targets[(p, tag)], o))
            bar.update(len(chunk))
    bar.close()
    dt = time.perf_counter() - t0
    print(f"wrote {len(written)} image(s) to {out} in {dt:.1f} s ({len(inputs) / dt:.2f} inputs/s)")
    if spec["mode"] == "all":
        sheet_path = (out.parent if out.suffix else out) / "contact_sheet.jpg"
        tiles, labels = [], []
        for p, img in loaded:
            tiles.append(img)
            labels.append(p.stem)
            for t in names:
                tiles.append(image.load_image(targets[(p, t)]))
                labels.append(t)
        image.save_image(sheet_path, image.contact_sheet(tiles, ncols=len(names) + 1, labels=labels), quality=90)
        print(f"contact sheet: {sheet_path}")
    return 0
