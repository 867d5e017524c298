"""Feed-forward inference (StyleBank here, CIN/Johnson in `infer.transform`): one style, all styles,
linear fusion or region fusion, over files or folders.

Style spec (`--style`): `NAME`, `all`, or `a:0.7,b:0.3` (linear fusion, weights normalised). With
`--regions K` or `--mask FILE` the spec lists one style per region (`a,b`), fused by
F̃ = Σ_r K_r ⊗ (M_r × F); regions come from K-means of the encoder features (paper) or from the
mask's grey levels (darkest = first style).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from infer import common
from styljax import parallel
from styljax.errors import StyljaxError

MAX_FUSION_WEIGHT = 1e3  # |weight|, raw and normalised: beyond it float32 params overflow or cancel


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
        if not math.isfinite(weights[-1]) or abs(weights[-1]) > MAX_FUSION_WEIGHT:
            raise StyljaxError(f"--style: weight in {it!r} must be a finite number of at most "
                               f"{MAX_FUSION_WEIGHT:g} in magnitude")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise StyljaxError(f"--style: unknown styles {unknown}; this model has: {', '.join(known)}")
    if not names:
        raise StyljaxError("--style: empty")
    if len(names) == 1:
        return {"mode": "single", "names": names, "weights": None}
    if sum(weights) <= 0:
        raise StyljaxError(f"--style: fusion weights must sum to > 0, got {spec!r}")
    if max(abs(w) for w in weights) > MAX_FUSION_WEIGHT * sum(weights):
        raise StyljaxError(f"--style: fusion weights nearly cancel out (a normalised weight over "
                           f"{MAX_FUSION_WEIGHT:g}), got {spec!r}")
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


class Renderer:
    """What the feed-forward runner and the HTTP service need of a multi-style model; subclasses
    load `params`, `cfg`, `manifest` and set `store` (its `StyleStore`)."""

    method: str
    store = None
    params: dict
    manifest: dict

    @property
    def styles_key(self) -> str:
        return self.store.styles_key

    @property
    def styles(self) -> list[str]:
        return sorted(self.params[self.styles_key])

    def add_style(self, tree: dict, meta: dict, name: str | None = None, what: str = "upload") -> str:
        """Add an exported style (a `styljax styles export` file's tree and meta) in memory; the
        same checks as `styljax styles import`. Returns its name."""
        name = self.store.check_style(meta, self.manifest, what, f"the {self.method} model", name)
        style = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), tree)
        want = jax.tree.structure(next(iter(self.params[self.styles_key].values())))
        if jax.tree.structure(style) != want:
            raise StyljaxError(f"{what}: style params do not match the {self.method} model")
        self.params = {**self.params, self.styles_key: {**self.params[self.styles_key], name: style}}
        return name

    def remove_style(self, name: str) -> None:
        """Drop a style from memory (the files on disk stay)."""
        if name not in self.params[self.styles_key]:
            raise StyljaxError(f"the {self.method} model has no style {name!r}")
        self.params = {**self.params, self.styles_key: {k: v for k, v in self.params[self.styles_key].items() if k != name}}

    def style_params(self, spec: dict) -> dict:
        """One style's params, or a fusion spec's weighted params (computed once, reused for every batch)."""
        styles = self.params[self.styles_key]
        if spec["mode"] == "fusion":
            return self.fuse(styles, spec["weights"])
        return styles[spec["names"][0]]

    # what the runner and the service call: strength and colour preservation in one place
    def render(self, x, spec: dict, strength=None, preserve_colors=False) -> dict:
        """{tag: (B, H, W, 3)} for a spec: every style (`all`: one `vmap`ped call), or its one
        style / fusion (`spec["style_params"]`); `strength` (None = 1, a scalar or (B,)) in the
        model's own mode (`strength_mode`), then `preserve_colors` (`keep_colors`)."""
        if spec["mode"] == "all":
            outs = self.lib.render_all(self.params, x, self.cfg, tuple(spec["names"]), clip=True, strength=strength)
            results = {t: outs[k] for k, t in enumerate(spec["names"])}
        else:
            tag = "fusion" if spec["mode"] == "fusion" else spec["names"][0]
            results = {tag: self.stylize_with(x, spec["style_params"], strength)}
        return {t: keep_colors(x, o, preserve_colors) for t, o in results.items()}

    def render_regions(self, x, names: tuple, masks=None, k: int | None = None, strength=None,
                       preserve_colors=False) -> jax.Array:
        """Region fusion, one style per region: masks (B, R, H, W) at image resolution (or, where
        the model has encoder features, K-means regions); `strength`, `preserve_colors` as `render`."""
        return keep_colors(x, self.regions(x, names, masks, k, strength), preserve_colors)

    def render_per_image(self, x, styles: dict, masks, strength=None, preserve_colors=None) -> jax.Array:
        """x (B, H, W, 3), `styles` stacked (B, R, ...) (each image its own R regions' style
        params, from `style_params`), masks (B, R, H, W), `strength` (B,) and `preserve_colors`
        (B,) flags per image → clipped (B, H, W, 3). Compiled once, whatever the values."""
        return keep_colors(x, self.per_image(x, styles, masks, strength), preserve_colors)

    # the HTTP service's one program per (size, batch, regions): a pure function of its arguments
    reserved_styles: tuple = ()  # names that change how the model renders (never added/removed while serving)

    def serving_args(self) -> tuple:
        """What `serve_batch` reads besides the batch: (the params without the styles, the neutral
        style or None). Fixed while serving, so adding a style never changes a compiled program."""
        return {k: v for k, v in self.params.items() if k != self.styles_key}, None

    def serve_batch(self, body, neutral, x, styles, masks, strength, keep) -> jax.Array:
        """`render_per_image` as one jit-able function of arrays only (`serving_args` first): x (B, H,
        W, 3), styles stacked (B, R, ...), masks (B, R, H, W), strength (B,), keep (B,) → (B, H, W, 3)."""
        from styljax import image

        return image.preserve_colors_where(x, self.per_image_with(body, neutral, x, styles, masks, strength), keep)

    # the model's own pieces
    @property
    def strength_mode(self) -> str:
        """How `strength` acts on this model: "features", "gamma-beta" or "pixel" (`styljax.models.strength`)."""
        raise NotImplementedError

    def fuse(self, styles: dict, weights: dict) -> dict:
        """The params of a weighted fusion of `styles`."""
        raise NotImplementedError

    def stylize_with(self, x, style: dict, strength=None) -> jax.Array:
        """x (B, H, W, 3) through one style's params at `strength` → clipped (B, H, W, 3)."""
        raise NotImplementedError

    def per_image(self, x, styles: dict, masks, strength=None) -> jax.Array:
        """`render_per_image` without the colour step."""
        body, neutral = self.serving_args()
        return self.per_image_with(body, None if strength is None else neutral, x, styles, masks, strength)

    def per_image_with(self, body, neutral, x, styles: dict, masks, strength) -> jax.Array:
        """`per_image` given `serving_args` (the params without the styles, the neutral style)."""
        raise NotImplementedError

    def regions(self, x, names: tuple, masks=None, k: int | None = None, strength=None) -> jax.Array:
        """`render_regions` without the colour step."""
        raise NotImplementedError


def keep_colors(x, out, preserve):
    """Colour preservation (`--preserve-colors`, `preserve_colors=true`): the output's luminance
    with the photo's chrominance (`styljax.image.preserve_colors`, Gatys' own). `preserve` False/None
    (as is), True (every image) or (B,) flags (each image its own)."""
    from styljax import image

    if preserve is None or preserve is False:
        return out
    if preserve is True:
        return image.preserve_colors(x, out)
    keep = np.asarray(preserve, bool)
    if not keep.any():
        return out
    return image.preserve_colors_where(x, out, keep)


class StyleBankRenderer(Renderer):
    """A StyleBank model behind the feed-forward runner's interface: every method returns
    {tag: (B, H, W, 3) clipped} for a batch x (B, H, W, 3)."""

    method = "stylebank"
    kmeans_regions = True  # --regions K: K-means of the encoder features (paper)
    strength_mode = "features"  # D(s·(K ⊗ F) + (1 − s)·F): s = 0 is the auto-encoder path

    def __init__(self, path: Path, method: str | None = None):
        from styljax.models import stylebank as sb
        from styljax.models import stylebank_store

        self.lib = sb  # the model's functions: lib.stylize(params, x, style, cfg, clip)
        self.store = stylebank_store.STORE
        self.params, self.cfg, self.manifest = stylebank_store.load_model(path)

    def fuse(self, styles: dict, weights: dict) -> dict:
        return self.lib.fuse_linear(styles, weights)  # the banks' weighted sum, applied once

    def stylize_with(self, x, style: dict, strength=None) -> jax.Array:
        return self.lib.stylize_bank(self.params, x, style, self.cfg, clip=True, strength=strength)

    def per_image_with(self, body, neutral, x, styles: dict, masks, strength) -> jax.Array:
        return self.lib.stylize_per_image(body, x, styles, masks, self.cfg, clip=True, strength=strength)

    def regions(self, x, names: tuple, masks=None, k: int | None = None, strength=None) -> jax.Array:
        """Paper's region fusion; masks (B, R, H, W) at image resolution, or K-means regions."""
        sb = self.lib
        f = sb.encode(self.params, x, self.cfg)
        if masks is not None:
            masks = sb.region_masks_for(jnp.asarray(masks), self.cfg)
        else:
            masks = sb.kmeans_masks(f, k, jax.random.key(0))
        g = sb.blend_features(sb.fuse_regions(self.params, f, masks, names, self.cfg), f, strength)
        return jnp.clip(sb.decode(self.params, g, self.cfg, x.shape[1:3]), 0, 1)


def run_feedforward(args: argparse.Namespace, model) -> int:
    """`styljax stylize` for a feed-forward model (`StyleBankRenderer`, `infer.transform.TransformRenderer`):
    inputs grouped by size into batches of --batch (one compilation per size), or tiled."""
    from infer.photo import apply_photoreal
    from styljax import image, tiling

    # a style spec is one token: anything after it that argparse gave to --style is an input
    spec_text, extra_inputs = args.style[0], args.style[1:]
    srcs = extra_inputs + list(args.inputs) + ([args.content] if args.content else [])
    if not srcs:
        raise StyljaxError(f"{model.method}: give input image(s) or a folder")
    inputs = [p for s in srcs for p in image.list_images(s)]
    spec = parse_style_spec(spec_text, model.styles)
    regional = args.regions is not None or args.mask is not None
    if regional and spec["mode"] == "all":
        raise StyljaxError("--regions/--mask need one style per region, e.g. --style a,b")
    if args.regions is not None and not model.kmeans_regions:
        raise StyljaxError(f"--regions needs StyleBank's encoder features; for {model.method} give --mask")
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
    inputs = parallel.process_share(inputs)  # multi-host: this process's share of the list
    targets = _outputs(inputs, out, tags)
    for p in set(targets.values()):
        image.check_output_path(p)
    if not out.suffix and not args.overwrite:  # a folder run resumes: inputs with every output done are skipped
        done = [i for i in inputs if all(targets[(i, t)].is_file() for t in tags)]
        if done:
            print(f"skipping {len(done)} input(s) already done in {out} (--overwrite to redo)")
            inputs = [i for i in inputs if i not in set(done)]

    if spec["mode"] != "all" and not regional:
        spec["style_params"] = model.style_params(spec)
    strength, keep = getattr(args, "strength", None), getattr(args, "preserve_colors", False)
    if strength is not None and strength < 1 and model.strength_mode == "pixel":
        print("strength: pixel blend (no identity style in this model)")
    names = tuple(spec["names"])
    bar = common.progress(len(inputs), model.method, disable=args.quiet)
    sharding = parallel.local_batch_sharding()  # the batch split over this host's devices
    per_call = max(1, args.batch)
    if sharding is not None:
        per_call = -(-per_call // sharding.mesh.size) * sharding.mesh.size
    t0 = time.perf_counter()
    kw = common.load_limits(args)
    written = []

    def save(path: Path, content: np.ndarray, result) -> None:
        written.append(image.save_image(path, apply_photoreal(args, content, np.asarray(result))))

    def render_batch(chunk: list, shape: tuple) -> None:
        x = np.stack([im for _, im in chunk])
        if sharding is not None:  # pad to the device count, split over the devices
            x = jax.device_put(np.concatenate([x, x[-1:].repeat(per_call - len(x), 0)]), sharding)
        x = jnp.asarray(x)
        if regional:
            masks = None
            if args.mask:
                masks = np.stack([mask_regions(args.mask, len(names), shape[:2]) for _ in range(len(x))])
            results = {"regions": model.render_regions(x, names, masks, args.regions, strength, keep)}
        else:
            results = model.render(x, spec, strength, keep)
        for tag, batch_out in results.items():
            for (p, img), o in zip(chunk, np.asarray(batch_out)):
                save(targets[(p, tag)], img, o)

    # a large folder streams through in blocks (bounded memory); within a block, inputs are grouped
    # by size into batches of `per_call` (one compilation per size)
    block = 32 * per_call
    for b in range(0, len(inputs), block):
        by_shape: dict = {}
        for p in inputs[b : b + block]:
            img = image.load_image(p, max_side=args.size, **kw)
            by_shape.setdefault(img.shape, []).append((p, img))
        for shape, items in by_shape.items():
            if tile is not None and max(shape[:2]) > tile:
                for p, img in items:
                    for tag in tags:
                        one = spec if spec["mode"] != "all" else single_spec(model, tag)

                        def render_tile(t, one=one, tag=tag):
                            return model.render(jnp.asarray(t), one, strength, keep)[tag]

                        o = tiling.map_tiles(render_tile, img, tile, overlap)[0]
                        save(targets[(p, tag)], img, o)
                    bar.update(1)
                continue
            for i in range(0, len(items), per_call):
                render_batch(items[i : i + per_call], shape)
                bar.update(len(items[i : i + per_call]))
    bar.close()
    dt = time.perf_counter() - t0
    print(f"wrote {len(written)} image(s) to {out} in {dt:.1f} s ({len(inputs) / max(dt, 1e-9):.2f} inputs/s)")
    if spec["mode"] == "all" and jax.process_count() == 1 and inputs:
        sheet_path = (out.parent if out.suffix else out) / "contact_sheet.jpg"
        tiles, labels = [], []
        for p in inputs:
            tiles.append(image.load_image(p, max_side=args.size, **kw))
            labels.append(p.stem)
            for t in names:
                tiles.append(image.load_image(targets[(p, t)]))
                labels.append(t)
        image.save_image(sheet_path, image.contact_sheet(tiles, ncols=len(names) + 1, labels=labels), quality=90)
        print(f"contact sheet: {sheet_path}")
    return 0


def single_spec(model, name: str) -> dict:
    """The spec of one style, with its params resolved (as the runner does for --style NAME)."""
    spec = {"mode": "single", "names": [name], "weights": None}
    return {**spec, "style_params": model.style_params(spec)}
