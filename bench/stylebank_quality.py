"""StyleBank quality on held-out Kodak images: style identification, StyleBank vs Gatys losses, and
how fast `add-style` gets a new bank within 10% of a jointly trained one.

    python -m bench.stylebank_quality [--cases identify,quality,add_style] [--model checkpoints/stylebank]
        [--content-dir ../shared/data/content/kodak] [--held-out kodim21,...] [--styles ../shared/data/styles]
        [--size 192] [--gatys-steps 50] [--add-style wave]

Every loss is measured with the shipped model's training loss settings (`styljax.train.configs` "kodak":
VGG-16 caffe-hed weights, content relu3_3 MSE, style Gram "chw" distance over relu1_2, relu2_2,
relu3_3, relu4_3 with the per-layer weights of that config, style Grams from the painting at
`style_size`), *unweighted*: `content` and `style` below are the raw terms, before the α/β weights.

Cases (one JSON line each; stdout is JSON lines, progress on stderr)
-----
identify   per (rendered style k, held-out image): the style distance of StyleBank's output in
           style k to each painting's Gram; `nearest` = the painting with the smallest distance.
           `summary` line: `own_nearest` = how many (k, image) pairs are nearest to their own painting.
quality    per style: mean content and style loss over the held-out images of StyleBank's output
           and of a Gatys optimisation (L-BFGS, `--gatys-steps`, init = content) that minimises the
           same weighted objective (α content + β style + γ TV) at the same size: Gatys is the
           per-image optimum the feed-forward net approximates.
gatys      fill `--gatys-cache` with the Gatys half of `quality` (model-independent, so it can run
           before or beside training); one line per (painting, image) pair.
add_style  a fresh bank for painting `--add-style` on the frozen auto-encoder (add-style config),
           evaluated every `--eval-every` steps on the held-out images; `seconds_to_within_10pct`
           = training seconds (compilation and evaluation excluded) until its held-out style loss
           is <= 1.1 x that of the jointly trained bank of the same painting.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bench.common import emit, log, machine_info
from styljax.io import image, weights
from styljax.imaging import geometry
from styljax.losses import feature_losses
from styljax.optimization import gatys
from styljax.nets import stylebank as sb
from styljax.stores import stylebank_store
from styljax.tasks.stylebank import StyleBankLoss, StyleBankTask
from styljax.train import configs
from styljax import training
import functools
from styljax.tasks.stylebank import TRAIN_NEW_BANKS

CASES = ("identify", "quality", "add_style")  # + "gatys": fill the Gatys cache only


class Evaluator:
    """Unweighted content/style losses of stylized images under a `StyleBankLoss`."""

    def __init__(self, vgg, loss: StyleBankLoss, paintings: dict[str, np.ndarray]):
        self.vgg, self.loss = vgg, loss
        extract = vgg.extractor(loss.layers)
        self.features = jax.jit(lambda x: extract(vgg.params, x))
        self.grams = {}
        for name, s in paintings.items():
            s = geometry.resize(s, image.fit_max_side(*s.shape[:2], loss.style_size))
            f = self.features(s[None])
            self.grams[name] = {l: feature_losses.gram(f[l], loss.gram_norm)[0] for l, _ in loss.style_layers}

    def style(self, out: jax.Array, painting: str) -> float:
        return self.distances(out, [painting])[painting]

    def distances(self, out: jax.Array, paintings) -> dict[str, float]:
        """Style distance of `out` to each painting, from one VGG forward of `out`."""
        f = self.features(out)
        return {p: float(feature_losses.style_loss(f, self.grams[p], dict(self.loss.style_layers), self.loss.gram_norm))
                for p in paintings}

    def losses(self, out: jax.Array, content: jax.Array, paintings) -> tuple[float, dict[str, float]]:
        """(content loss, style distances to `paintings`), one VGG forward each of `out` and `content`."""
        fo, fc = self.features(out), self.features(content)
        c = float(feature_losses.content_loss(fo, fc, dict(self.loss.content_layers)))
        return c, {p: float(feature_losses.style_loss(fo, self.grams[p], dict(self.loss.style_layers), self.loss.gram_norm))
                   for p in paintings}


def eval_args(p: argparse.ArgumentParser, *, gatys_steps: int, add_style: str, add_style_max_steps: int,
              eval_every: int) -> None:
    """The data and evaluation flags of the quality benchmarks (this one and `bench.baselines`)."""
    held_out = ",".join(configs.KODAK_HELD_OUT)
    p.add_argument("--content-dir", default="../shared/data/content/kodak")
    p.add_argument("--held-out", default=held_out)
    p.add_argument("--exclude", default=held_out, help="add_style: not trained on")
    p.add_argument("--styles", default="../shared/data/styles")
    p.add_argument("--size", type=int, default=192, help="held-out images' max side")
    p.add_argument("--gatys-steps", type=int, default=gatys_steps)
    p.add_argument("--gatys-cache", default=None, help="directory caching Gatys outputs (see case gatys)")
    p.add_argument("--add-style", default=add_style)
    p.add_argument("--add-style-max-steps", type=int, default=add_style_max_steps)
    p.add_argument("--eval-every", type=int, default=eval_every)


def load_paintings(args) -> dict[str, np.ndarray]:
    """--styles paintings keyed by style name: the file stem with '_' written '-' (the shipped models' names)."""
    return {f.stem.replace("_", "-"): image.load_image(f, max_side=1024) for f in image.list_images(args.styles)}


def held_out_images(args) -> dict[str, np.ndarray]:
    out = {}
    for stem in args.held_out.split(","):
        img = image.load_image(Path(args.content_dir) / f"{stem}.png")
        out[stem] = np.asarray(geometry.resize(img, image.fit_max_side(*img.shape[:2], args.size)))
    return out


def case_identify(model, ev: Evaluator, photos: dict) -> list[dict]:
    params, cfg = model
    names = [n for n in sorted(params["banks"]) if n in ev.grams]
    rows, own = [], 0
    for stem, x in photos.items():
        outs = sb.render_all(params, jnp.asarray(x[None]), cfg, tuple(names), clip=True)[:, 0]
        for k, name in enumerate(names):
            d = ev.distances(outs[k][None], names)
            nearest = min(d, key=d.get)
            own += nearest == name
            rows.append({"case": "identify", "image": stem, "style": name, "nearest": nearest,
                         "distance": d, "margin": sorted(d.values())[1] / d[name] if nearest == name else None})
            emit(rows[-1])
    emit({"case": "identify_summary", "own_nearest": own, "pairs": len(rows), "styles": names,
          "images": list(photos)})
    return rows


def case_quality(model, ev: Evaluator, photos: dict, paintings: dict, args) -> None:
    params, cfg = model
    lc = ev.loss
    gcfg = gatys_config(lc, args)
    for name in sorted(n for n in params["banks"] if n in paintings):
        acc = {"stylebank": [], "gatys": []}
        for stem, x in photos.items():
            c = jnp.asarray(x[None])
            t0 = time.perf_counter()
            out_sb = sb.stylize(params, c, name, cfg, clip=True)
            jax.block_until_ready(out_sb)
            t_sb = time.perf_counter() - t0
            out_g, t_g = gatys_result(ev, gcfg, x, paintings[name], name, stem, args)
            for method, out, t in (("stylebank", out_sb, t_sb), ("gatys", jnp.asarray(out_g)[None], t_g)):
                cl, sd = ev.losses(out, c, [name])
                acc[method].append((cl, sd[name], t))
            log(f"quality {name} {stem}: stylebank {acc['stylebank'][-1][:2]} gatys {acc['gatys'][-1][:2]}")
        rec = {"case": "quality", "style": name, "images": list(photos), "size": args.size,
               "gatys_steps": args.gatys_steps}
        for method, vals in acc.items():
            v = np.asarray(vals)
            rec[method] = {"content": v[:, 0].mean(), "style": v[:, 1].mean(), "seconds_per_image": v[:, 2].mean(),
                           "weighted_total": lc.content_weight * v[:, 0].mean() + lc.style_weight * v[:, 1].mean()}
        emit(rec)


def gatys_config(lc: StyleBankLoss, args) -> gatys.GatysConfig:
    """Gatys on the StyleBank objective (same layers, weights, Gram normalisation), one scale."""
    return gatys.GatysConfig(
        content_layers=lc.content_layers, style_layers=lc.style_layers, content_weight=lc.content_weight,
        style_weight=lc.style_weight, tv_weight=lc.tv_weight, gram_norm=lc.gram_norm, sizes=(args.size,),
        steps=args.gatys_steps, style_scale=lc.style_size / args.size,
    )


def gatys_result(ev: Evaluator, gcfg, x: np.ndarray, painting: np.ndarray, name: str, stem: str, args):
    """(Gatys output, seconds) for one pair; cached in `--gatys-cache` (the `gatys` case fills it,
    so that the model-independent half of `quality` can run before, or beside, training)."""
    cache = Path(args.gatys_cache) / f"{name}__{stem}__{args.size}px_{args.gatys_steps}steps.npz" if args.gatys_cache else None
    if cache is not None and cache.exists():
        with np.load(cache) as z:
            return z["image"], float(z["seconds"])
    t0 = time.perf_counter()
    out = np.asarray(gatys.stylize(ev.vgg, x, [painting], gcfg), np.float32)
    seconds = time.perf_counter() - t0
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, image=out, seconds=seconds)
        tmp.replace(cache)
    return out, seconds


def case_gatys(ev: Evaluator, photos: dict, paintings: dict, args) -> None:
    """Fill the Gatys cache for every (painting, held-out image) pair; one line per pair."""
    gcfg = gatys_config(ev.loss, args)
    for name in sorted(paintings):
        for stem, x in photos.items():
            out, seconds = gatys_result(ev, gcfg, x, paintings[name], name, stem, args)
            c = jnp.asarray(x[None])
            o = jnp.asarray(out)[None]
            content_loss, style = ev.losses(o, c, [name])
            emit({"case": "gatys", "style": name, "image": stem, "size": args.size, "steps": args.gatys_steps,
                  "seconds": seconds, "content": content_loss, "style_loss": style[name]})


def add_style_race(task, exp, stylize, params: dict, ev: Evaluator, photos: dict, name: str, new: str, args) -> dict:
    """Train `task` (a fresh style `new` on a frozen model) until its held-out style loss is within
    10% of the jointly trained style `name`'s; `stylize(params, x, style)` renders with the model.
    Seconds count training steps only (compilation and evaluation excluded)."""
    from styljax.io import data

    xs = jnp.asarray(np.stack(list(photos.values())))  # held-out images share a shape (Kodak: 3:2)
    held = jax.jit(lambda p, style: stylize(p, xs, style), static_argnums=1)

    def style_of(p, style) -> float:
        outs = held(p, style)
        return float(np.mean([ev.style(outs[i][None], name) for i in range(outs.shape[0])]))

    ref = style_of(params, name)
    files = data.folder_files(args.content_dir, tuple(args.exclude.split(",")))
    batches = data.crop_batches(data.folder_source(files, exp.short_side), exp.crop, exp.batch_size, exp.seed)
    state, consts = training.init_state(task, jax.random.key(exp.seed)), task.constants()
    step = jax.jit(functools.partial(training.train_step, task), static_argnames="phase")
    jax.block_until_ready(step(state, batches[0], consts, phase=0))  # compile
    train_s, reached, curve = 0.0, None, []
    for i in range(args.add_style_max_steps):
        t0 = time.perf_counter()
        state, _ = step(state, batches[i], consts, phase=0)
        jax.block_until_ready(state.params)
        train_s += time.perf_counter() - t0
        if (i + 1) % args.eval_every == 0:
            value = style_of(state.params, new)
            curve.append((i + 1, round(train_s, 1), value))
            log(f"add_style {new} step {i + 1}: held-out style {value:.4g} (joint {ref:.4g}), {train_s:.0f} s")
            if value <= 1.1 * ref:
                reached = (i + 1, train_s)
                break
    return {"style": name, "joint_style": ref, "threshold": 1.1 * ref, "steps_to_within_10pct": reached and reached[0],
            "seconds_to_within_10pct": reached and reached[1], "batch_size": exp.batch_size, "crop": exp.crop,
            "lr": task.cfg.learning_rate, "curve_step_seconds_style": curve}


def case_add_style(model, ev: Evaluator, photos: dict, paintings: dict, vgg, args) -> None:
    params, cfg = model
    exp = configs.get_config("add-style", "stylebank")
    tcfg = dataclasses.replace(exp.train, model=cfg, loss=ev.loss)
    new = f"{args.add_style}_new"
    task = StyleBankTask(tcfg, vgg, {new: paintings[args.add_style]}, init_params=params,
                         trainable=TRAIN_NEW_BANKS, new_styles=[new])
    stylize = lambda p, x, style: sb.stylize(p, x, style, cfg, clip=True)
    emit({"case": "add_style", **add_style_race(task, exp, stylize, params, ev, photos, args.add_style, new, args)})


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--model", default="checkpoints/stylebank")
    eval_args(p, gatys_steps=50, add_style="wave", add_style_max_steps=600, eval_every=20)
    args = p.parse_args(argv)
    cases = args.cases.split(",")

    vgg = weights.resolve(None)
    paintings = load_paintings(args)
    ev = Evaluator(vgg, configs.get_config("kodak", "stylebank").train.loss, paintings)
    photos = held_out_images(args)
    if cases == ["gatys"]:  # model-independent: may run before the model exists
        emit({"bench": "stylebank_quality", "kind": "header", **machine_info(), "loss": dataclasses.asdict(ev.loss),
              "size": args.size})
        case_gatys(ev, photos, paintings, args)
        return
    params, cfg, manifest = stylebank_store.load_model(args.model)
    emit({"bench": "stylebank_quality", "kind": "header", **machine_info(), "model": args.model,
          "styles": sorted(params["banks"]), "loss": dataclasses.asdict(ev.loss), "size": args.size})
    model = (params, cfg)
    if "identify" in cases:
        case_identify(model, ev, photos)
    if "quality" in cases:
        case_quality(model, ev, photos, paintings, args)
    if "add_style" in cases:
        case_add_style(model, ev, photos, paintings, vgg, args)


if __name__ == "__main__":
    main()
