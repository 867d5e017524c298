"""Side by side, one run, same held-out images: StyleBank vs CIN vs Johnson vs Gatys.

    python -m bench.baselines [--cases quality,bytes,speed,add_style] [--size 192] [--speed-size 512]
        [--gatys-steps 30 --gatys-cache DIR] [--add-style the-scream] > bench/results/baselines.jsonl
    python -m bench.report baselines bench/results/baselines.jsonl

All four minimise the same objective (`styljax.train.configs.KODAK_LOSS`: caffe-convention VGG-16, content
relu3_3, style Gram "chw" distance over relu1_2…relu4_3 with that config's layer weights); the
losses below are its *unweighted* content and style terms (`bench.stylebank_quality.Evaluator`),
on the held-out Kodak images kodim21-24 at `--size`.

Cases (one JSON line each)
-----
quality    per (method, style): mean content and style loss, and how many outputs are nearest (in
           that style distance) to their own painting among the six: the Gram identification rate.
           Gatys = L-BFGS on the same weighted objective from the content, `--gatys-steps` steps
           (outputs cached in `--gatys-cache`, shared with `bench.stylebank_quality`).
bytes      bytes a new style adds: a StyleBank bank, a CIN γ/β set, a whole Johnson net; Gatys
           stores nothing (it re-optimises every image).
speed      images/s at `--speed-size`² (batch 1, one style, jitted, after compilation, idle-
           machine timing). Gatys: seconds per L-BFGS step at that size, and images/s for
           `--gatys-steps` steps.
add_style  wall time to add a style: a fresh bank (StyleBank) or γ/β set (CIN) for `--add-style`
           on the frozen model, each with its model's add-style config, evaluated every
           `--eval-every` steps on the held-out images until its style loss is within 10% of the
           jointly trained style's. Johnson: its training wall time (a new style is a new net,
           from its manifest). Gatys: none.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from bench.common import emit, machine_info, timeit_clean
from bench.stylebank_quality import (
    Evaluator, add_style_race, eval_args, gatys_config, gatys_result, held_out_images, load_paintings,
)
from styljax import methods
from styljax.io import weights
from styljax.imaging import geometry
from styljax.optimization import gatys
from styljax.nets import stylebank as sb
from styljax.nets import transform as tr
from styljax.render import StyleSpec
from styljax.train import configs
from styljax.tasks.stylebank import TRAIN_NEW_BANKS
from styljax.tasks.transform import TRAIN_NEW_STYLES

CASES = ("quality", "bytes", "speed", "add_style")


def load_models(args) -> dict:
    return {
        name: methods.get(name, "renderer").open_renderer(getattr(args, name)) for name in ("stylebank", "cin", "johnson")
    }


def render(model, x: jax.Array, name: str) -> jax.Array:
    return model.render(x, StyleSpec((name,)))[name]


def case_quality(models: dict, ev: Evaluator, photos: dict, paintings: dict, args) -> None:
    painted = sorted(paintings)
    gcfg = gatys_config(ev.loss, args)
    for method in (*models, "gatys"):
        styles = painted if method == "gatys" else [n for n in models[method].styles if n in paintings]
        for name in styles:
            content, style, own = [], [], 0
            for stem, x in photos.items():
                c = jnp.asarray(x[None])
                if method == "gatys":
                    out = jnp.asarray(gatys_result(ev, gcfg, x, paintings[name], name, stem, args)[0])[None]
                else:
                    out = render(models[method], c, name)
                cl, d = ev.losses(out, c, painted)
                content.append(cl)
                style.append(d[name])
                own += min(d, key=d.get) == name
            emit({"case": "quality", "method": method, "style": name, "content": float(np.mean(content)),
                  "style_loss": float(np.mean(style)), "own_nearest": own, "images": len(photos), "size": args.size})


def case_bytes(models: dict) -> None:
    for method, m in models.items():
        one = m.params[m.styles_key][m.styles[0]]
        body = sb.nbytes({k: v for k, v in m.params.items() if k != m.styles_key})
        per_style = sb.nbytes(one) + (body if method == "johnson" else 0)
        emit({"case": "bytes", "method": method, "bytes_per_style": per_style, "shared_bytes": body,
              "note": "a new style is a whole net" if method == "johnson" else "shared body stays"})
    emit({"case": "bytes", "method": "gatys", "bytes_per_style": 0, "shared_bytes": 0,
          "note": "nothing stored; every image is optimised"})


def case_speed(models: dict, vgg, paintings: dict, photos: dict, args) -> None:
    n = args.speed_size
    x = jnp.asarray(np.stack([geometry.resize(next(iter(photos.values())), (n, n))]))
    for method, m in models.items():
        name = m.styles[0]
        fn = jax.jit(lambda im, p=m, s=name: render(p, im, s))
        jax.block_until_ready(fn(x))
        st = timeit_clean(lambda: jax.block_until_ready(fn(x)), min_time=3.0)
        emit({"case": "speed", "method": method, "size": n, "img_per_s": 1.0 / st["median_s"], "s_per_img": st["median_s"],
              "attempts": st.get("attempts")})
    # Gatys: L-BFGS steps at the same size on the same objective
    gcfg = dataclasses.replace(gatys_config(configs.KODAK_LOSS, args), sizes=(n,), steps=6, style_scale=1.0)
    content = np.asarray(x[0])
    times, t0 = [], time.perf_counter()
    for step in gatys.iterate(vgg, content, [paintings["starry-night"]], gcfg):
        jax.block_until_ready(step.image)
        t1 = time.perf_counter()
        times.append(t1 - t0)
        t0 = t1
    s_step = float(np.median(times[1:]))  # the first includes compilation
    emit({"case": "speed", "method": "gatys", "size": n, "s_per_step": s_step, "steps": args.gatys_steps,
          "img_per_s": 1.0 / (s_step * args.gatys_steps), "s_per_img": s_step * args.gatys_steps})


def case_add_style(models: dict, ev: Evaluator, photos: dict, paintings: dict, vgg, args) -> None:
    from styljax.tasks.stylebank import StyleBankTask
    from styljax.tasks.transform import TransformTask

    name, new = args.add_style, f"{args.add_style}_new"
    for method, get, make in (
        ("stylebank", methods.get("stylebank").experiment, lambda cfg, m: StyleBankTask(cfg, vgg, {new: paintings[name]}, init_params=m.params,
                                                                trainable=TRAIN_NEW_BANKS, new_styles=[new])),
        ("cin", methods.get("cin").experiment, lambda cfg, m: TransformTask(cfg, vgg, {new: paintings[name]}, init_params=m.params,
                                                              trainable=TRAIN_NEW_STYLES, new_styles=[new])),
    ):
        m = models[method]
        exp = get("add-style")
        task = make(dataclasses.replace(exp.train, model=m.cfg, loss=ev.loss), m)
        lib = sb if method == "stylebank" else tr
        stylize = lambda p, x, style, m=m, lib=lib: lib.stylize(p, x, style, m.cfg, clip=True)
        emit({"case": "add_style", "method": method, **add_style_race(task, exp, stylize, m.params, ev, photos, name, new, args)})
    prov = models["johnson"].manifest.get("provenance", {})
    emit({"case": "add_style", "method": "johnson", "style": models["johnson"].styles[0],
          "seconds_full_training": prov.get("wall_s_this_run"), "steps": prov.get("steps"),
          "note": "a new style is a new net: its whole training run"})
    emit({"case": "add_style", "method": "gatys", "seconds": 0.0, "note": "no training; per-image optimisation"})


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--stylebank", default="checkpoints/stylebank")
    p.add_argument("--cin", default="checkpoints/cin")
    p.add_argument("--johnson", default="checkpoints/johnson")
    p.add_argument("--speed-size", type=int, default=512)
    eval_args(p, gatys_steps=30, add_style="the-scream", add_style_max_steps=150, eval_every=25)
    args = p.parse_args(argv)
    cases = args.cases.split(",")

    vgg = weights.resolve(None)
    paintings = load_paintings(args)
    ev = Evaluator(vgg, configs.KODAK_LOSS, paintings)
    photos = held_out_images(args)
    models = load_models(args)
    emit({"bench": "baselines", "kind": "header", **machine_info(), "size": args.size, "held_out": list(photos),
          "models": {k: {"path": getattr(args, k), "styles": m.styles,
                         "provenance": {q: m.manifest.get("provenance", {}).get(q) for q in ("command", "steps", "wall_s_this_run")}}
                     for k, m in models.items()},
          "loss": json.loads(json.dumps(dataclasses.asdict(ev.loss)))})
    if "quality" in cases:
        case_quality(models, ev, photos, paintings, args)
    if "bytes" in cases:
        case_bytes(models)
    if "speed" in cases:
        case_speed(models, vgg, paintings, photos, args)
    if "add_style" in cases:
        case_add_style(models, ev, photos, paintings, vgg, args)


if __name__ == "__main__":
    main()
