"""`styljax stylize` for a trained model (`--method stylebank|cin|johnson`): files and folders in,
images out, through the model's `styljax.render.Renderer`. The style spec (`--style`) is a
`styljax.render.StyleSpec`: `NAME`, `all`, `a:0.7,b:0.3` (linear fusion, weights normalised), or
with `--regions K` / `--mask FILE` one style per region (`a,b`).

Every input's header is checked before any work (a file that is no image, too small, or whose
render size is over the pixel budget `--max-pixels`). A folder run (several inputs) reports each
bad file on a line of its own, renders the others and exits 1 with a summary; `--strict`, and a
run of one input, stop at the first bad file (exit 2).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from styljax.infer import common
from styljax.runtime import parallel
from styljax.errors import StyljaxError, TooLarge
from styljax.render import StyleSpec


def _outputs(inputs: list[Path], out: Path, tags: list[str]) -> dict:
    """Output path per (input, tag): a single file if one input and one tag and `out` has a suffix."""
    if len(inputs) == 1 and len(tags) == 1 and out.suffix:
        return {(inputs[0], tags[0]): out}
    if out.suffix:
        raise StyljaxError(f"{out}: several outputs need a folder, not a file name")
    return {(i, t): out / f"{i.stem}_{t}.png" for i in inputs for t in tags}


def run_feedforward(args: argparse.Namespace, open_model) -> int:
    """`styljax stylize` for a feed-forward model (a `styljax.render.Renderer`, made by
    `open_model()` once every input has passed its header checks): inputs grouped by size into
    batches of --batch (one compilation per size), or tiled."""
    from styljax.infer.photo import apply_photoreal
    from styljax.io import image
    from styljax.imaging import sheets
    from styljax.runtime import tiling

    # a style spec is one token: anything after it that argparse gave to --style is an input
    spec_text, extra_inputs = args.style[0], args.style[1:]
    srcs = extra_inputs + list(args.inputs) + ([args.content] if args.content else [])
    if not srcs:
        raise StyljaxError(f"{args.method}: give input image(s) or a folder")
    inputs = [p for s in srcs for p in image.list_images(s)]
    strict = args.strict or (len(inputs) == 1 and not any(Path(s).is_dir() for s in srcs))
    tile = args.tile
    overlap = min(64, tile // 4) if tile is not None and args.tile_overlap is None else args.tile_overlap
    kw = common.load_limits(args)
    budget = kw.get("max_pixels") or image.default_max_pixels()
    if tile is not None:
        if tile < 16 or not 0 <= overlap < tile:
            raise StyljaxError(f"--tile needs >= 16 px and 0 <= --tile-overlap < --tile, got {tile}, {overlap}")
        if tile * tile > budget:
            raise StyljaxError(f"--tile {tile}: a {tile}x{tile} tile is {tile * tile:,} pixels, over --max-pixels "
                               f"{budget:,}; give a smaller --tile or raise --max-pixels")
    inputs = parallel.process_share(inputs)  # multi-host: this process's share of the list
    every_input = list(inputs)
    failed: list[Path] = []

    def skip_bad(p: Path, e: StyljaxError) -> None:
        """A bad input: the end of a strict run; else one line, and the run goes on without it."""
        if strict:
            raise e
        failed.append(p)
        from tqdm.auto import tqdm

        tqdm.write(f"styljax: {e} (skipped)", file=sys.stderr)  # above the progress bar, if one is drawn

    # every input's header, and its render size against the budget, before any work
    for p in every_input:
        try:
            check_render_size(p, args.size, budget, tile, kw)
        except StyljaxError as e:
            skip_bad(p, e)

    model = open_model()
    if args.regions is not None and not model.kmeans_regions:
        raise StyljaxError(f"--regions needs StyleBank's encoder features; for {model.method} give --mask")
    spec_text = model.prepare_styles(spec_text, common.load_limits(args))  # painting files -> named styles, once
    spec = StyleSpec.parse(spec_text, model.styles, strength=getattr(args, "strength", None),
                           preserve_colors=getattr(args, "preserve_colors", False), regions=args.regions, mask=args.mask)
    if tile is not None and spec.regional:
        raise StyljaxError("--tile works with one style, 'all' or a linear fusion (regions would differ per tile)")
    tags = list(spec.tags)
    out = Path(args.out)
    targets = _outputs(every_input, out, tags)
    for p in set(targets.values()):
        image.check_output_path(p)
    inputs = [p for p in every_input if p not in set(failed)]
    if not out.suffix and not args.overwrite:  # a folder run resumes: inputs with every output done are skipped
        done = [i for i in inputs if all(targets[(i, t)].is_file() for t in tags)]
        if done:
            print(f"skipping {len(done)} input(s) already done in {out} (--overwrite to redo)")
            inputs = [i for i in inputs if i not in set(done)]

    # one style or a mix: its params made once, for every batch
    style_params = model.style_params(spec) if spec.mode in ("single", "fusion") else None
    if spec.strength is not None and spec.strength < 1 and model.strength_mode == "pixel":
        print("strength: pixel blend (no identity style in this model)")
    bar = common.progress(len(inputs), model.method, disable=args.quiet)
    sharding = parallel.local_batch_sharding()  # the batch split over this host's devices
    per_call = max(1, args.batch)
    if sharding is not None:
        per_call = -(-per_call // sharding.mesh.size) * sharding.mesh.size
    t0 = time.perf_counter()
    written = []

    def save(path: Path, content: np.ndarray, result) -> None:
        written.append(image.save_image(path, apply_photoreal(args, content, np.asarray(result))))

    def render_batch(chunk: list) -> None:
        x = np.stack([im for _, im in chunk])
        if sharding is not None:  # pad to the device count, split over the devices
            x = jax.device_put(np.concatenate([x, x[-1:].repeat(per_call - len(x), 0)]), sharding)
        with out_of_memory_explained(x.shape):
            results = model.render(jnp.asarray(x), spec, style_params)
        for tag, batch_out in results.items():
            for (p, img), o in zip(chunk, np.asarray(batch_out)):
                save(targets[(p, tag)], img, o)

    # a large folder streams through in blocks (bounded memory); within a block, inputs are grouped
    # by size into batches of `per_call` (one compilation per size)
    block = 32 * per_call
    for b in range(0, len(inputs), block):
        by_shape: dict = {}
        for p in inputs[b : b + block]:
            try:
                img = image.load_image(p, max_side=args.size, **kw)
            except StyljaxError as e:  # found only when decoding: a truncated or corrupt file
                skip_bad(p, e)
                bar.update(1)
                continue
            by_shape.setdefault(img.shape, []).append((p, img))
        for shape, items in by_shape.items():
            if tile is not None and max(shape[:2]) > tile:
                for p, img in items:
                    for tag in tags:
                        one = spec.one(tag) if spec.every else spec

                        def render_tile(t, one=one, tag=tag):
                            with out_of_memory_explained(t.shape):
                                return model.render(jnp.asarray(t), one, style_params)[tag]

                        o = tiling.map_tiles(render_tile, img, tile, overlap)[0]
                        save(targets[(p, tag)], img, o)
                    bar.update(1)
                continue
            for i in range(0, len(items), per_call):
                render_batch(items[i : i + per_call])
                bar.update(len(items[i : i + per_call]))
    bar.close()
    dt = time.perf_counter() - t0
    print(f"wrote {len(written)} image(s) to {out} in {dt:.1f} s ({len(inputs) / max(dt, 1e-9):.2f} inputs/s)")
    inputs = [p for p in inputs if p not in set(failed)]  # those that failed when decoded
    if spec.every and jax.process_count() == 1 and inputs:
        sheet_path = (out.parent if out.suffix else out) / "contact_sheet.jpg"
        tiles, labels = [], []
        for p in inputs:
            tiles.append(image.load_image(p, max_side=args.size, **kw))
            labels.append(p.stem)
            for t in spec.names:
                tiles.append(image.load_image(targets[(p, t)]))
                labels.append(t)
        image.save_image(sheet_path, sheets.contact_sheet(tiles, ncols=len(spec.names) + 1, labels=labels), quality=90)
        print(f"contact sheet: {sheet_path}")
    if failed:
        print(f"styljax: {len(failed)} of {len(every_input)} input(s) failed and were skipped (one line "
              f"each above); the others were written (--strict stops at the first bad file)", file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def out_of_memory_explained(shape: tuple):
    """XLA running out of memory for a (B, H, W, 3) batch: one line naming --tile, not a traceback."""
    try:
        yield
    except jax.errors.JaxRuntimeError as e:
        if "RESOURCE_EXHAUSTED" not in str(e):
            raise
        b, h, w = shape[:3]
        raise StyljaxError(f"out of memory rendering {b} image(s) of {w}x{h}: render in tiles (--tile 1024), "
                           "give a smaller --size or --batch, or lower --max-pixels") from None


def check_render_size(path: Path, size: int | None, budget: int, tile: int | None, load_kw: dict) -> None:
    """A one-line error, from the header alone, if `path` is no readable image or too small, or
    if it renders (at `--size`) over the pixel budget `--max-pixels`: a bad file is found before
    anything is decoded or compiled, and an upscale cannot exhaust the machine's memory."""
    from styljax.io import image

    h, w = image.header_size(path, **load_kw)
    th, tw = (h, w) if size is None else image.fit_max_side(h, w, size)
    if th * tw > budget:
        at = f" at --size {size}" if size is not None else ""
        how = "" if tile is not None else " and add --tile 1024 (tiles keep the memory bounded)"
        raise TooLarge(f"{path}: {w}x{h}{at} renders at {tw}x{th} ({tw * th:,} pixels), over --max-pixels "
                       f"{budget:,}: give a smaller --size, or raise --max-pixels{how}")
