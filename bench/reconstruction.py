"""How well does a model give the photo back? The identity paths on held-out photos (issue #31).

    python -m bench.reconstruction [--stylebank DIR ...] [--run RUNDIR ...] [--cin DIR ...] [--sizes 256,512]
        [--data ../shared/data] > bench/results/reconstruction.jsonl

Identity paths: a StyleBank model's auto-encoder branch (`stylebank.reconstruct`, the strength-0
output), the latest checkpoint of a StyleBank run directory (`--run`, for the curve against steps
while it trains), and a CIN/Johnson model's reserved `identity` style at strength 0. Photos: the held-out set
(`train.configs.HELD_OUT`), longer side at each of `--sizes`.

Per (model, photo, size) one JSON line, then one summary line per (model, size):
structure   `styljax.evaluation.metrics.structure_kept` (edges of the blurred luminance; 1 = the photo's);
psnr        dB over the RGB pixels in [0, 1];
mean_shift  the largest |mean of a channel − the photo's|, in 0..255 levels (a colour cast).
Targets (issue #31): structure ≥ 0.93, PSNR ≥ 26 dB, mean shift ≤ 3 levels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bench.common import emit, log
from bench.quality import photo_path
from styljax.evaluation import metrics
from styljax.io import image
from styljax.train import configs


def psnr(out: np.ndarray, photo: np.ndarray) -> float:
    return float(-10.0 * np.log10(np.mean(np.square(out - photo)) + 1e-12))


def mean_shift(out: np.ndarray, photo: np.ndarray) -> float:
    return float(np.max(np.abs(out.mean(axis=(0, 1)) - photo.mean(axis=(0, 1)))) * 255.0)


def scores(out: np.ndarray, photo: np.ndarray) -> dict:
    return {"structure": float(metrics.structure_kept(out, photo)), "psnr": psnr(out, photo),
            "mean_shift": mean_shift(out, photo)}


def stylebank_model(path: str):
    from styljax.nets import stylebank as sb
    from styljax.stores import stylebank_store

    params, cfg, _ = stylebank_store.load_model(path)
    return lambda x: sb.reconstruct(params, x, cfg, clip=True)


def stylebank_run(run: str):
    """The latest checkpoint of a StyleBank run directory, with the architecture its meta names."""
    import orbax.checkpoint as ocp

    from styljax.io import checkpoint
    from styljax.nets import stylebank as sb
    from styljax.stores.style_store import config_from_dict

    mngr = checkpoint.manager(Path(run) / "ckpt")
    step = mngr.latest_step()
    if step is None:
        raise SystemExit(f"bench.reconstruction: no checkpoint in {run}")
    got = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(), meta=ocp.args.JsonRestore()))
    state, meta = got["state"], got["meta"]
    params = state["params"] if isinstance(state, dict) else state[1]
    model = dict(meta["train_config"]["model"])
    model.pop("dtype", None)  # the run's meta holds it as str(type); the checkpointed params are float32
    cfg = config_from_dict(sb.StyleBankConfig, model)
    return (lambda x: sb.reconstruct(params, x, cfg, clip=True)), step


def identity_style(path: str):
    from styljax.nets import strength as st
    from styljax.nets import transform as tr
    from styljax.stores import transform_store

    params, cfg, _ = transform_store.load_model(path)
    if st.IDENTITY_STYLE not in params["styles"]:
        raise SystemExit(f"bench.reconstruction: {path} has no {st.IDENTITY_STYLE!r} style")
    # strength 0 toward the identity style: the path `--strength 0` takes (with the photo's tones
    # restored when the model's config asks for it)
    identity = params["styles"][st.IDENTITY_STYLE]
    return lambda x: tr.stylize_with(params, x, identity, cfg, clip=True, strength=jnp.float32(0.0), neutral=identity)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stylebank", nargs="*", default=[], help="StyleBank model directories")
    p.add_argument("--run", nargs="*", default=[], help="StyleBank run directories (their latest checkpoint)")
    p.add_argument("--cin", nargs="*", default=[], help="CIN/Johnson model directories with an identity style")
    p.add_argument("--sizes", default="256,512")
    p.add_argument("--data", default="../shared/data")
    args = p.parse_args(argv)
    paths = {stem: photo_path(Path(args.data), stem) for stem in configs.HELD_OUT}
    models = {f"stylebank:{d}": stylebank_model(d) for d in args.stylebank}
    for r in args.run:
        fn, step = stylebank_run(r)
        models[f"run:{r}@{step}"] = fn
    models.update({f"identity:{d}": identity_style(d) for d in args.cin})
    for size in (int(s) for s in args.sizes.split(",")):
        photos = {stem: image.load_image(f, max_side=size) for stem, f in paths.items()}
        for name, fn in models.items():
            rows = []
            for stem, photo in photos.items():
                out = np.asarray(fn(jnp.asarray(photo)[None])[0])
                rows.append({"case": "reconstruction", "model": name, "photo": stem, "size": size, **scores(out, photo)})
                emit(rows[-1])
            summary = {k: float(np.mean([r[k] for r in rows])) for k in ("structure", "psnr", "mean_shift")}
            emit({"case": "summary", "model": name, "size": size, "photos": len(rows), **summary,
                  "mean_shift_max": max(r["mean_shift"] for r in rows)})
            log(f"{name} @ {size}: " + ", ".join(f"{k} {v:.3f}" for k, v in summary.items()))
    jax.effects_barrier()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
