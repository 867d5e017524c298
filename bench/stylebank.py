"""StyleBank on CPU: multi-style rendering, inference throughput, model bytes, training step vs
PyTorch, and peak memory.

    python -m bench.stylebank [--model DIR] [--quick] [--cases render_all,throughput,bytes,train_step,memory]

Model: `--model DIR` (a `styljax.stores.stylebank_store` model); by default `checkpoints/stylebank`
if it holds a model, else a randomly initialised paper-default model with 7 styles (run time does
not depend on the weight values). Every line says which (`model.source`: "checkpoint"/"random").

stdout: one header JSON line (`kind: "header"`: machine, threads, matmul roof, config, model), then
one JSON line per measured case (`kind: "case"`, `case: <name>`). Progress goes to stderr.

Cases
-----
render_all  (one line per K = 1..7; 256 px, batch 1)
    The first K styles (sorted names; random banks from `init_bank` are added when the model has
    fewer than 7). `render_all_s`: one jitted `render_all` call (encode once, vmap the K banks,
    decode K maps as one batch). `independent_s`: K jitted `stylize` calls, one per style, each
    blocked on (their sum). `ratio_independent_over_render_all` = independent_s / render_all_s
    (> 1: render_all is faster). `flop_ratio` is the same ratio of analytic conv FLOPs (what saving
    the K−1 encoder passes alone would give). `max_abs_diff` = max |render_all − stylize| (should
    be ~1e-6).
throughput  (one line per size x batch; default 256/512/1024 px x batch 1/8, --quick 256 x 1)
    Single-style jitted `stylize`: `s_per_call`, `img_s` (images/s), `mpix_s`, analytic `gflop`
    per call (convs only: 2·H·W·k²·Cin·Cout) and achieved `gflops`, `frac_of_roof` (vs the matmul
    roof in the header), `compile_s`.
bytes  (one line)
    fp32 bytes of one bank (`bank_bytes` = kernel + bias), of the auto-encoder, and of the whole
    model (auto-encoder + all `n_styles` banks), `ratio_bank_over_model`; the paper's
    3x3x128x128 fp32 kernel (589,824 B = 0.5625 MiB) for reference; file sizes on disk for a
    checkpoint model.
train_step  (one line per method x crop; methods --train-methods stylebank,cin,johnson, crops
            --train-crops 128,256, batch 4)
    Every method's `task.train_step` jitted with `static_argnames="phase", donate_argnums=0`, and
    its PyTorch twin on the same number of threads, both from the same params, batch and style ids.
    Run alone (`--cases train_step`), JAX gets the XLA:CPU options the trainers use
    (`styljax.runtime.xla_cpu.PERCEPTUAL_TRAINING`; `--xla-options default` keeps XLA's); each line records its `xla_flags`.
    stylebank: `StyleBankTask` with the model above, the default (paper) loss on VGG-16 to relu4_2,
      lr 1e-3, T = 2 (as before). `jax_phase0_s` (stylizing branch: E, K_i, D forward, VGG-16 loss
      net on output + content, backward, Adam), `jax_phase1_s` (auto-encoder branch, identity
      loss), `jax_schedule_s` (mean over one T+1 block: (T·phase0 + phase1)/(T+1)). Twin:
      `bench/torch_stylebank.py` (stylizing step only; `speedup_jax_over_torch` = torch_s /
      jax_phase0_s).
    cin, johnson: `TransformTask` (net and every style's γ/β train, image j of step s in style
      (s·B + j) mod K) with the model in --cin-model/--johnson-model (default checkpoints/cin,
      checkpoints/johnson; random with the experiment's architecture when absent) and the "kodak"
      experiment's `TransformTrainConfig` (train/configs.py: KODAK_LOSS on VGG-16 to relu4_3, lr
      2e-3). `jax_s`. Twin: `bench/torch_transform.py` (`speedup_jax_over_torch` = torch_s / jax_s).
    Style images are random 64 px images (they only set the Gram targets, at min(style_size, crop)
    px). Twins: same architecture and weights, reflect-padded convs, (conditional) instance norm,
    VGG-16 with copied weights and the weights' input convention, content + Gram style (per-image
    targets = the JAX task's) + TV as `styljax.losses.perceptual`, content VGG pass without autograd,
    one Adam over all trainable params (`bench/torch_common.py`). `*_img_s` = batch / seconds.
    FLOPs (`gflop`, `gflop_parts`, rule in `gflop_rule`): convs only, 2·H·W·k²·Cin·Cout each; per
    step B·[F_net + (2·F_net − F_first) + 3·F_vgg] (net forward and backward without the first
    layer's input gradient; VGG forward on output and content up to the deepest loss layer, and its
    input gradient). `jax_gflops`/`torch_gflops` = gflop / s, `frac_of_roof`/`torch_frac_of_roof`
    = those / the header's JAX matmul roof (`roof_gflops`; stylebank also `*_phase1`,
    `*_schedule`). Check (first step): `loss_rel_err` and `loss_parts_rel_err` (content, style,
    TV), `grad_norm_rel_err` and per group (global L2 norm of ∂L; JAX from Adam's first moment;
    groups net/styles or ae/banks), stylebank also `gk_norm_rel_err` (∂L/∂(E, D)).
    Quick correctness check: `--cases train_step --train-crops 32 --quick` (loss_rel_err <= ~1e-6).
memory  (one line per sub-case, each in a fresh subprocess)
    Peak resident memory (`ru_maxrss`, includes the Python/JAX runtime and XLA compilation) while
    stylizing one 1024x1024 image (`mode: "single"`), and a 4096x4096 image in 1024 px tiles with
    >= 64 px overlap and linear cross-fade blending (`mode: "tiled"`; numpy accumulators for the
    full-size output). `baseline_mib`: peak after imports, model and input set-up;
    `peak_mib`; `peak_minus_baseline_mib`; `compile_s`, `run_s` (single: a second, warm call;
    tiled: all tiles, compiled before). Tiling changes the result: instance-norm statistics are
    computed per tile, so tiles differ from a whole-image render in tone/contrast (blending hides
    the seams, not the global difference).

Timing: JIT compilation happens before timing; medians over >= 3 calls and >= 2 s after a warm
call (--quick: >= 2 calls, 0.5 s); slow cases (a call > --case-budget/min_reps s) take fewer reps.
The machine may be shared: each timing waits (up to --max-idle-wait s) for other processes to go
idle and is re-timed (up to --retries times) when others kept > --max-others cores busy;
`*_others_cores` says how contaminated the kept timing is (> ~0.15 on a 2-core machine: noisy).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.common import emit, log, machine_info, matmul_roof, thread_setup, timeit_clean, torch_or_none
from styljax.runtime import xla_cpu
from styljax.nets import stylebank as sb
from styljax.stores.style_store import config_to_dict
from styljax.losses.perceptual import jsonable
from styljax import training
import functools
from styljax.train import configs

CASES = ("render_all", "throughput", "bytes", "train_step", "forward", "memory")
DEFAULT_MODEL = "checkpoints/stylebank"
N_STYLES = 7
PAPER_BANK_KERNEL_BYTES = 3 * 3 * 128 * 128 * 4  # 589,824 B = 0.5625 MiB (paper, fp32)
MIB = 1024.0 * 1024.0
TILING_NOTE = (
    "tiled: instance-norm statistics are computed per tile, so each tile is normalised "
    "differently from a whole-image render (tone/contrast can differ between tiles and from the "
    "full render); linear cross-fade blending in the overlaps hides seams, not that difference"
)

_T0 = time.perf_counter()


def progress(msg: str) -> None:
    log(f"[{time.perf_counter() - _T0:7.1f}s] {msg}")


# ----------------------------------------------------------------------------------------- model


def load_model(
    model: str | None, seed: int, force_random: bool = False
) -> tuple[dict, sb.StyleBankConfig, dict]:
    """(params, cfg, info): the model in `model` (default: checkpoints/stylebank if it holds one),
    else (or with `force_random`) a random paper-default model with N_STYLES styles."""
    from styljax.stores import stylebank_store as store

    path = Path(model or DEFAULT_MODEL)
    if not force_random and (path / "manifest.json").is_file():
        params, cfg, manifest = store.load_model(path)
        info = {
            "source": "checkpoint",
            "path": str(path),
            "styles": sorted(params["banks"]),
            "config": config_to_dict(cfg),
            "autoencoder_sha256": manifest.get("autoencoder_sha256"),
        }
        return params, cfg, info
    if model is not None:
        raise SystemExit(f"--model {model}: not a StyleBank model (no manifest.json)")
    cfg = sb.StyleBankConfig()
    names = [f"random{i}" for i in range(N_STYLES)]
    params = sb.init(jax.random.key(seed), cfg, names)
    info = {
        "source": "random",
        "path": None,
        "reason": "forced" if force_random else f"{DEFAULT_MODEL} holds no model (no manifest.json)",
        "styles": names,
        "config": config_to_dict(cfg),
    }
    return params, cfg, info


def with_k_banks(params: dict, cfg: sb.StyleBankConfig, k: int, seed: int) -> tuple[dict, list[str], int]:
    """params with at least k banks, the first k names (model styles in sorted order, then added
    random ones), and how many were added."""
    names = sorted(params["banks"])[:k]
    added = 0
    banks = dict(params["banks"])
    key = jax.random.key(seed + 1000)
    while len(names) < k:
        key, sub = jax.random.split(key)
        name = f"zz_random{added}"
        banks[name] = sb.init_bank(sub, cfg)
        names.append(name)
        added += 1
    return {**params, "banks": banks}, names, added


def np_copy(tree: Any) -> Any:
    return jax.tree.map(lambda a: np.array(a, np.float32), tree)


# ----------------------------------------------------------------------------------------- flops


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def conv_flops(h: int, w: int, k: int, cin: int, cout: int) -> float:
    """2·H·W·k²·Cin·Cout: one k×k conv with an H × W output."""
    return 2.0 * h * w * k * k * cin * cout


def stylize_flops(cfg: sb.StyleBankConfig, h: int, w: int) -> dict:
    """Analytic conv FLOPs per image (2·H·W·k²·Cin·Cout): {"encoder", "bank", "decoder", "first"}
    ("first": the encoder's first conv, included in "encoder")."""
    conv = conv_flops
    hh, ww = _ceil_div(h, sb.DOWNSAMPLE) * sb.DOWNSAMPLE, _ceil_div(w, sb.DOWNSAMPLE) * sb.DOWNSAMPLE
    ch = cfg.channels
    first = conv(hh, ww, 9, 3, ch[0])
    enc, cin = 0.0, 3
    for i, c in enumerate(ch):
        k, s = (9 if i == 0 else 3), (2 if i in (1, 2) else 1)
        hh, ww = _ceil_div(hh, s), _ceil_div(ww, s)
        enc += conv(hh, ww, k, cin, c)
        cin = c
    bank = cfg.bank_layers * conv(hh, ww, cfg.bank_kernel, cfg.features, cfg.features)
    dec = 0.0
    for i in range(len(ch) - 1, 0, -1):
        if i in (1, 2):
            hh, ww = 2 * hh, 2 * ww
        dec += conv(hh, ww, 3, ch[i], ch[i - 1])
    dec += conv(hh, ww, 9, ch[0], 3)
    return {"encoder": enc, "bank": bank, "decoder": dec, "first": first}


def transform_flops(cfg, h: int, w: int) -> dict:
    """Analytic conv FLOPs per image of a `TransformNet` (nominal: the up-convs counted at their
    output resolution): {"net", "first"}."""
    c1, c2, c3 = cfg.channels
    hh, ww = _ceil_div(h, 4) * 4, _ceil_div(w, 4) * 4
    first = conv_flops(hh, ww, 9, 3, c1)
    net = (first + conv_flops(hh // 2, ww // 2, 3, c1, c2) + conv_flops(hh // 4, ww // 4, 3, c2, c3)
           + 2 * cfg.residual_blocks * conv_flops(hh // 4, ww // 4, 3, c3, c3)
           + conv_flops(hh // 2, ww // 2, 3, c3, c2) + conv_flops(hh, ww, 3, c2, c1) + conv_flops(hh, ww, 9, c1, 3))
    return {"net": net, "first": first}


def vgg_flops(depth: int, h: int, w: int, layers) -> float:
    """Conv FLOPs of one image through the VGG trunk up to the deepest of `layers`."""
    from styljax.nets.vgg import CHANNELS, CONVS_PER_BLOCK, relu_names

    deepest = max(relu_names(depth).index(n) for n in layers)
    total, cin, i = 0.0, 3, 0
    for block, n in enumerate(CONVS_PER_BLOCK[depth]):
        if block > 0:
            h, w = h // 2, w // 2  # 2x2 max pool (odd rows/columns dropped)
        for _ in range(n):
            if i > deepest:
                return total
            total += conv_flops(h, w, 3, cin, CHANNELS[block])
            cin = CHANNELS[block]
            i += 1
    return total


def gram_flops(h: int, w: int, style_layers) -> float:
    """FLOPs of the style layers' Grams of one image, forward (2·HW·C²) + backward (the same)."""
    from styljax.nets.vgg import CHANNELS

    total = 0.0
    for name in style_layers:
        block = int(name[4]) - 1  # "relu3_2" -> block 2
        c, s = CHANNELS[block], 2**block
        total += 2 * (2.0 * (h // s) * (w // s) * c * c)
    return total


TRAIN_GFLOP_RULE = (
    "convs only, each 2*H*W*k^2*Cin*Cout at its output resolution (nominal: the JAX nearest-x2 "
    "up-convs run as 2x2 phase convs at 4/9 of that, not credited). Per step = batch * [F_net "
    "(net forward) + 2*F_net - F_first (net backward: weight and input gradients, no input gradient "
    "for the first layer) + F_vgg (VGG forward on the output, up to the deepest loss layer) + F_vgg "
    "(VGG forward on the content images) + F_vgg (VGG input gradient of the output, no weight "
    "gradients)]. StyleBank F_net = encoder + 1 bank + decoder; its phase 1 (auto-encoder) = "
    "batch * [F_ae + 2*F_ae - F_first] (no VGG). Not counted: instance norm, Gram matrices "
    "(gflop_gram, for reference), losses, TV, Adam, padding/gathers."
)


def train_step_flops(f_net: float, f_first: float, f_vgg: float, batch: int) -> dict:
    """GFLOP of one training step (TRAIN_GFLOP_RULE), total and parts."""
    parts = {
        "net_fwd": batch * f_net / 1e9,
        "net_bwd": batch * (2 * f_net - f_first) / 1e9,
        "vgg_fwd_out": batch * f_vgg / 1e9,
        "vgg_fwd_content": batch * f_vgg / 1e9,
        "vgg_input_grad": batch * f_vgg / 1e9,
    }
    return {"gflop": sum(parts.values()), "parts": parts}


# ---------------------------------------------------------------------------------------- timing


def bounded(timing: dict, warm_s: float, budget: float) -> dict:
    """Timing kwargs for `timeit_clean` after one warm call took `warm_s`: no further warm-up, and
    at most ~`budget` s of timed calls per attempt (at least 1 call, 1 attempt if very slow)."""
    t = dict(timing, warmup=0)
    if warm_s * t["min_reps"] > budget:
        t["min_reps"] = max(1, int(budget // max(warm_s, 1e-9)))
        t["min_time"] = 0.0
        t["retries"] = min(t["retries"], 1 if 2 * warm_s < budget else 0)
    return t


def warm_call(fn) -> tuple[float, float]:
    """(first call s incl. compilation, second call s)."""
    t0 = time.perf_counter()
    fn()
    t1 = time.perf_counter()
    fn()
    return t1 - t0, time.perf_counter() - t1


def timing_fields(prefix: str, st: dict) -> dict:
    return {
        f"{prefix}_s": st["median_s"],
        f"{prefix}_min_s": st["min_s"],
        f"{prefix}_reps": st["reps"],
        f"{prefix}_others_cores": st["others_cores"],
        f"{prefix}_attempts": st["attempts"],
    }


# ----------------------------------------------------------------------------------------- tiles


def tiled_stylize(
    params: dict, cfg: sb.StyleBankConfig, style: str, image: np.ndarray, tile: int = 1024, overlap: int = 64,
) -> tuple[np.ndarray, dict]:
    """Stylize an (H, W, 3) image in overlapping tiles (`styljax.runtime.tiling.map_tiles`): one
    compilation for the tile shape. NB instance-norm statistics are per tile (see TILING_NOTE)."""
    from styljax.runtime import tiling

    return tiling.map_tiles(lambda t: sb.stylize(params, jnp.asarray(t), style, cfg), image, tile, overlap)


# ----------------------------------------------------------------------------------------- cases


def case_render_all(params, cfg, model_info, args, timing, threads):
    size = args.size_render
    ks = list(range(1, args.max_styles + 1))
    p, names, added = with_k_banks(params, cfg, ks[-1], args.seed)
    rng = np.random.default_rng(args.seed)
    x = jnp.asarray(rng.random((1, size, size, 3), dtype=np.float32))
    fl = stylize_flops(cfg, size, size)
    for k in ks:
        sel = tuple(names[:k])
        progress(f"render_all K={k} {size}px: compiling ...")

        def render():
            return jax.block_until_ready(sb.render_all(p, x, cfg, sel))

        def independent():
            return [jax.block_until_ready(sb.stylize(p, x, n, cfg)) for n in sel]

        r_first, r_warm = warm_call(render)
        i_first, i_warm = warm_call(independent)
        ra = np.asarray(render())
        ind = independent()
        diff = max(float(np.max(np.abs(ra[j] - np.asarray(ind[j])))) for j in range(k))
        progress(f"render_all K={k}: timing (warm render_all {r_warm:.2f}s, independent {i_warm:.2f}s) ...")
        rs = timeit_clean(render, **bounded(timing, r_warm, args.case_budget))
        ins = timeit_clean(independent, **bounded(timing, i_warm, args.case_budget))
        ind_fl = k * (fl["encoder"] + fl["bank"] + fl["decoder"])
        ra_fl = fl["encoder"] + k * (fl["bank"] + fl["decoder"])
        rec = dict(
            kind="case", case="render_all", bench="stylebank", model=model_info["source"], size=size, batch=1,
            k=k, styles=list(sel), random_banks_added=max(0, k - (len(names) - added)),
            threads=threads, dtype="float32",
            **timing_fields("render_all", rs), render_all_first_call_s=r_first,
            **timing_fields("independent", ins), independent_first_calls_s=i_first,
            independent_per_style_s=ins["median_s"] / k,
            render_all_per_style_s=rs["median_s"] / k,
            ratio_independent_over_render_all=ins["median_s"] / rs["median_s"],
            flop_ratio=ind_fl / ra_fl, gflop_render_all=ra_fl / 1e9, gflop_independent=ind_fl / 1e9,
            max_abs_diff=diff,
        )
        emit(rec)


def case_throughput(params, cfg, model_info, args, timing, threads, roof):
    style = sorted(params["banks"])[0]
    rng = np.random.default_rng(args.seed)
    for size in args.sizes_throughput:
        fl = stylize_flops(cfg, size, size)
        per_img = fl["encoder"] + fl["bank"] + fl["decoder"]
        for batch in args.batches:
            progress(f"throughput {size}px b{batch}: compiling ...")
            x = jnp.asarray(rng.random((batch, size, size, 3), dtype=np.float32))

            def fn():
                return jax.block_until_ready(sb.stylize(params, x, style, cfg))

            first, warm = warm_call(fn)
            progress(f"throughput {size}px b{batch}: timing (warm call {warm:.2f}s) ...")
            st = timeit_clean(fn, **bounded(timing, warm, args.case_budget))
            s = st["median_s"]
            gflop = batch * per_img / 1e9
            emit(dict(
                kind="case", case="throughput", bench="stylebank", model=model_info["source"], style=style,
                size=size, batch=batch, threads=threads, dtype="float32",
                s_per_call=s, min_s=st["min_s"], reps=st["reps"], others_cores=st["others_cores"],
                attempts=st["attempts"], first_call_s=first, compile_s=max(0.0, first - warm),
                img_s=batch / s, mpix_s=batch * size * size / s / 1e6,
                gflop=gflop, gflop_rule="convs: sum 2*H*W*k^2*Cin*Cout (encoder + 1 bank + decoder)",
                gflops=gflop / s, roof_gflops=roof, frac_of_roof=(gflop / s / roof) if roof else None,
            ))
            del x


def leaf_bytes(tree: Any, name: str) -> int:
    """Bytes of the leaves of `tree` whose dict key is `name`."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return sum(sb.nbytes(a) for path, a in flat if getattr(path[-1], "key", None) == name)


def case_bytes(params, cfg, model_info, args):
    names = sorted(params["banks"])
    bank = params["banks"][names[0]]
    kernel_b = leaf_bytes(bank, "kernel")
    bias_b = leaf_bytes(bank, "bias")
    bank_b = sb.nbytes(bank)
    enc_b, dec_b = sb.nbytes(params["encoder"]), sb.nbytes(params["decoder"])
    ae_b = enc_b + dec_b
    banks_b = sum(sb.nbytes(b) for b in params["banks"].values())
    model_b = ae_b + banks_b
    dtypes = sorted({str(a.dtype) for a in jax.tree.leaves(params)})
    rec = dict(
        kind="case", case="bytes", bench="stylebank", model=model_info["source"], param_dtypes=dtypes,
        n_styles=len(names), bank_bytes=bank_b, bank_kernel_bytes=kernel_b, bank_bias_bytes=bias_b,
        bank_mib=bank_b / MIB, bank_params=bank_b // 4,
        encoder_bytes=enc_b, decoder_bytes=dec_b, autoencoder_bytes=ae_b, autoencoder_mib=ae_b / MIB,
        model_bytes=model_b, model_mib=model_b / MIB,
        ratio_bank_over_model=bank_b / model_b, ratio_bank_over_autoencoder=bank_b / ae_b,
        model_bytes_7_styles=ae_b + N_STYLES * bank_b,
        ratio_bank_over_model_7_styles=bank_b / (ae_b + N_STYLES * bank_b),
        paper_bank_kernel_bytes=PAPER_BANK_KERNEL_BYTES, paper_bank_kernel_mib=PAPER_BANK_KERNEL_BYTES / MIB,
        bank_kernel_equals_paper=kernel_b == PAPER_BANK_KERNEL_BYTES,
    )
    if model_info["source"] == "checkpoint":
        d = Path(model_info["path"])
        rec["disk_autoencoder_bytes"] = (d / "autoencoder.npz").stat().st_size
        rec["disk_bank_bytes"] = {n: (d / "banks" / f"{n}.npz").stat().st_size for n in names}
    emit(rec)


# ------------------------------------------------------------------------------------ train_step

TRAIN_METHODS = ("stylebank", "cin", "johnson")
TRANSFORM_MODELS = {"cin": "checkpoints/cin", "johnson": "checkpoints/johnson"}
TRANSFORM_RANDOM_STYLES = {"cin": 6, "johnson": 1}  # the shipped models' style counts
ADAM_B1 = 0.9  # optax.adam's default: after the first step its first moment is (1 - b1)·∂L
LOSS_PARTS = ("content", "style", "tv")


def load_train_vgg():
    """(VggWeights, source): the default VGG-16 weights, else random ones (same speed)."""
    from styljax.io import weights as weights_lib
    from styljax.nets.vgg import random_weights

    try:
        return weights_lib.load_default(), "default"
    except Exception as e:  # noqa: BLE001 - any failure: fall back to random weights (same speed)
        progress(f"train_step: default VGG weights unavailable ({e}); using random VGG weights")
        return random_weights(16), "random"


def random_style_images(names, seed: int) -> dict:
    """{name: random 64 px RGB image}: the style images only set the Gram targets (constants)."""
    rng = np.random.default_rng(seed)
    return {n: rng.random((64, 64, 3), dtype=np.float32) for n in names}


def train_images(batch: int, crop: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed + 1).random((batch, crop, crop, 3), dtype=np.float32)


def stylebank_train_task(params: dict, cfg: sb.StyleBankConfig, crop: int, vggw, seed: int):
    """The StyleBank task of the train_step case: the default (paper) loss with Gram targets at
    min(256, crop) px, `StyleBankTrainConfig` defaults (lr 1e-3, T = 2), all banks of `params`."""
    from styljax.tasks.stylebank import StyleBankLoss, StyleBankTask, StyleBankTrainConfig

    names = sorted(params["banks"])
    loss_cfg = StyleBankLoss(style_size=min(256, crop))  # style image size only affects constants()
    tcfg = StyleBankTrainConfig(model=cfg, loss=loss_cfg)
    init = np_copy({"encoder": params["encoder"], "decoder": params["decoder"],
                    "banks": {n: params["banks"][n] for n in names}})
    return StyleBankTask(tcfg, vggw, random_style_images(names, seed), init_params=init)


def transform_train_config(method: str, model_cfg, crop: int):
    """The "kodak" experiment's `TransformTrainConfig` of `method` (loss KODAK_LOSS, its lr) with
    the architecture `model_cfg` and the Gram targets at min(style_size, crop) px."""

    t = configs.get_config("kodak", method).train
    return dataclasses.replace(t, model=model_cfg,
                               loss=dataclasses.replace(t.loss, style_size=min(t.loss.style_size, crop)))


def transform_train_task(method: str, params: dict, tcfg, vggw, seed: int):
    """`TransformTask` (net and every style train) starting from `params`."""
    from styljax.tasks.transform import TransformTask

    names = sorted(params["styles"])
    init = np_copy({"net": params["net"], "styles": {n: params["styles"][n] for n in names}})
    return TransformTask(tcfg, vggw, random_style_images(names, seed), method=method, init_params=init)


def load_transform_model(method: str, model: str | None, seed: int) -> tuple[dict, Any, dict]:
    """(params, cfg, info) of the CIN/Johnson model in `model` (default checkpoints/<method> if it
    holds one), else a random one with the "kodak" experiment's architecture."""
    from styljax.nets import transform as tr
    from styljax.stores import transform_store

    exp_cfg = configs.get_config("kodak", method).train.model
    path = Path(model or TRANSFORM_MODELS[method])
    if (path / "manifest.json").is_file():
        params, cfg, manifest = transform_store.load_model(path)
        info = {"source": "checkpoint", "path": str(path), "styles": sorted(params["styles"]),
                "config": config_to_dict(cfg), "config_matches_experiment": cfg == exp_cfg,
                "net_sha256": manifest.get("net_sha256")}
        return params, cfg, info
    if model is not None:
        raise SystemExit(f"--{method}-model {model}: not a transform-net model (no manifest.json)")
    names = [f"random{i}" for i in range(TRANSFORM_RANDOM_STYLES[method])]
    params = tr.init(jax.random.key(seed), exp_cfg, names)
    info = {"source": "random", "path": None, "reason": f"{TRANSFORM_MODELS[method]} holds no model",
            "styles": names, "config": config_to_dict(exp_cfg)}
    return params, exp_cfg, info


def _adam_mu(opt_state: Any) -> Any:
    states = [s for s in jax.tree.leaves(opt_state, is_leaf=lambda s: isinstance(s, optax.ScaleByAdamState))
              if isinstance(s, optax.ScaleByAdamState)]
    if len(states) != 1:
        raise ValueError(f"expected one Adam state, found {len(states)}")
    return states[0].mu


def jax_grad_norms(opt_state: Any) -> dict:
    """Global L2 norms of the gradient of the first step, from Adam's first moment after it
    (μ₁ = (1 − b1)·∂L): {group: norm} plus "all". Groups: "net", "styles" (transform tasks,
    the trainable tree's keys), "ae", "banks" (StyleBank: one Adam per group)."""
    inner = getattr(opt_state, "inner_states", {})  # an optax.partition state
    if "ae" in inner:  # StyleBankTask: an Adam for "ae" and one for "banks"
        groups = {k: _adam_mu(inner[k]) for k in ("ae", "banks")}
    else:  # TransformTask: one Adam over the trainable leaves (the frozen ones are MaskedNodes)
        groups = dict(_adam_mu(opt_state))
    out = {k: float(optax.tree.norm(v)) / (1.0 - ADAM_B1) for k, v in groups.items()}
    out["all"] = float(np.sqrt(sum(v * v for v in out.values())))
    return out


class JaxTrainStep:
    """`task.train_step` jitted (`static_argnames="phase", donate_argnums=0`) on one fixed batch."""

    def __init__(self, task, consts: dict, images: np.ndarray, seed: int):
        self.task = task
        self.consts = consts
        self.data = {"image": jnp.asarray(images)}
        self.step = jax.jit(functools.partial(training.train_step, task), static_argnames="phase", donate_argnums=0)
        self.state = training.init_state(task, jax.random.key(seed))
        self.metrics = None

    def run(self, phase: int = 0):
        def fn():
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*donated buffers were not usable.*")
                s, m = self.step(self.state, self.data, self.consts, phase=phase)
                jax.block_until_ready((s, m))
            self.state, self.metrics = s, m
        return fn

    def first_step(self) -> tuple[float, dict, dict]:
        """Step 0 from the initial params (the reference of the torch check): (seconds incl.
        compilation, {metric: value}, gradient norms (`jax_grad_norms`))."""
        t0 = time.perf_counter()
        self.run(0)()
        dt = time.perf_counter() - t0
        return dt, {k: float(v) for k, v in self.metrics.items()}, jax_grad_norms(self.state.opt_state)


def torch_train_twin(task, consts: dict):
    """The PyTorch twin of `task` (StyleBank stylizing branch, or CIN/Johnson), same params, styles,
    Gram targets, loss and learning rate."""
    grams = {l: np.asarray(g) for l, g in consts["grams"].items()}
    if task.name == "stylebank":
        from bench.torch_stylebank import TorchStyleBankTrainer

        return TorchStyleBankTrainer(task.cfg.model, task.init_params, task.style_names, task.vgg, task.cfg.loss,
                                     grams, lr=task.cfg.learning_rate)
    from bench.torch_transform import TorchTransformTrainer

    return TorchTransformTrainer(task.cfg, task.init_params, task.style_names, task.vgg, grams)


def nchw(images: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def torch_first_step(trainer, x) -> tuple[float, float, dict, dict]:
    """(seconds, loss, {part: value}, gradient norms) of the twin's first step."""
    t0 = time.perf_counter()
    loss = trainer.step(x)
    return time.perf_counter() - t0, loss, dict(trainer.last_parts), trainer.grad_norms()


def rel_err(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-30)


def first_step_check(m0: dict, gn_jax: dict, loss_torch: float, parts_torch: dict, gn_torch: dict) -> dict:
    """The record's cross-check fields: loss, its parts and the gradient norms, JAX vs torch."""
    return dict(
        loss_jax=m0["loss"], loss_torch=loss_torch, loss_rel_err=rel_err(m0["loss"], loss_torch),
        loss_parts_rel_err={k: rel_err(m0[k], parts_torch[k]) for k in LOSS_PARTS},
        grad_norm_jax=gn_jax["all"], grad_norm_torch=gn_torch["all"],
        grad_norm_rel_err=rel_err(gn_jax["all"], gn_torch["all"]),
        grad_norm_parts_jax={k: v for k, v in gn_jax.items() if k != "all"},
        grad_norm_parts_rel_err={k: rel_err(gn_jax[k], gn_torch[k]) for k in gn_jax if k != "all"},
    )


def train_step_row(task, model_info: dict, crop: int, args, timing, threads, roof, torch, vgg_source) -> dict:
    """One train_step record: `task` (StyleBank or CIN/Johnson) at batch `args.train_batch`, `crop` px."""
    method, batch = task.name, args.train_batch
    sbk = method == "stylebank"
    loss_cfg, mcfg = task.cfg.loss, task.cfg.model
    tag = f"train_step {method} b{batch} {crop}px"
    progress(f"{tag}: Gram targets of {len(task.style_names)} styles ...")
    consts = task.constants()
    images = train_images(batch, crop, args.seed)

    if sbk:
        fl = stylize_flops(mcfg, crop, crop)
        f_net, f_first = fl["encoder"] + fl["bank"] + fl["decoder"], fl["first"]
    else:
        fl = transform_flops(mcfg, crop, crop)
        f_net, f_first = fl["net"], fl["first"]
    flops = train_step_flops(f_net, f_first, vgg_flops(task.vgg.depth, crop, crop, loss_cfg.layers), batch)
    gflop = flops["gflop"]

    rec: dict[str, Any] = dict(
        kind="case", case="train_step", bench="stylebank", method=method, model=model_info["source"],
        model_path=model_info["path"], batch=batch, crop=crop, n_styles=len(task.style_names), threads=threads,
        dtype="float32", vgg_weights=vgg_source, xla_flags=os.environ.get("XLA_FLAGS", ""),
    )
    if sbk:
        rec["T"] = task.cfg.T
    rec.update(loss_layers=list(loss_cfg.layers), learning_rate=task.cfg.learning_rate)
    if not sbk:
        rec.update(model_info={k: v for k, v in model_info.items() if k != "config"},
                   model_config=config_to_dict(mcfg), experiment="kodak",
                   loss_config=jsonable(dataclasses.asdict(loss_cfg)))

    js = JaxTrainStep(task, consts, images, args.seed)
    progress(f"{tag}: compiling JAX{' phase 0' if sbk else ''} ...")
    first0, m0, gn0 = js.first_step()
    gk0 = float(js.state.extra["gk_norm"]) if sbk else None
    p0_warm = warm_call(js.run(0))[0]
    progress(f"{tag}: timing JAX{' phase 0' if sbk else ''} (warm {p0_warm:.2f}s) ...")
    s0 = timeit_clean(js.run(0), **bounded(timing, p0_warm, args.case_budget))
    step_s = s0["median_s"]
    if sbk:
        progress(f"{tag}: compiling JAX phase 1 ...")
        p1_first, p1_warm = warm_call(js.run(1))
        progress(f"{tag}: timing JAX phase 1 (warm {p1_warm:.2f}s) ...")
        s1 = timeit_clean(js.run(1), **bounded(timing, p1_warm, args.case_budget))
        rec.update(
            **timing_fields("jax_phase0", s0), jax_phase0_compile_s=first0 - p0_warm,
            jax_phase0_img_s=batch / step_s,
            **timing_fields("jax_phase1", s1), jax_phase1_compile_s=p1_first - p1_warm,
            jax_phase1_img_s=batch / s1["median_s"],
        )
        sched = (task.cfg.T * step_s + s1["median_s"]) / (task.cfg.T + 1)
        rec.update(jax_schedule_s=sched, jax_schedule_img_s=batch / sched)
    else:
        rec.update(**timing_fields("jax", s0), jax_compile_s=first0 - p0_warm, jax_img_s=batch / step_s)
    del js

    def frac(gf, s):
        return gf / s / roof if roof else None

    rec.update(
        gflop=gflop, gflop_parts=flops["parts"], gflop_rule=TRAIN_GFLOP_RULE,
        gflop_gram=batch * gram_flops(crop, crop, [l for l, _ in loss_cfg.style_layers]) / 1e9,
        roof_gflops=roof, jax_gflops=gflop / step_s, frac_of_roof=frac(gflop, step_s),
    )
    if sbk:
        f_ae = fl["encoder"] + fl["decoder"]
        g1 = batch * (3 * f_ae - f_first) / 1e9
        g_sched = (task.cfg.T * gflop + g1) / (task.cfg.T + 1)
        rec.update(gflop_phase1=g1, frac_of_roof_phase1=frac(g1, s1["median_s"]),
                   gflop_schedule=g_sched, frac_of_roof_schedule=frac(g_sched, rec["jax_schedule_s"]))

    if torch is not None:
        progress(f"{tag}: building the PyTorch twin ...")
        trainer = torch_train_twin(task, consts)
        x = nchw(images)
        first_t, tl0, tparts, tgn = torch_first_step(trainer, x)  # same params, batch, style ids
        tgk0 = float(trainer.gk_norm) if sbk else None
        t_warm = warm_call(lambda: trainer.step(x))[0]
        progress(f"{tag}: timing torch (warm {t_warm:.2f}s) ...")
        ts = timeit_clean(lambda: trainer.step(x), **bounded(timing, t_warm, args.case_budget))
        del trainer
        rec.update(
            **timing_fields("torch", ts), torch_first_step_s=first_t, torch_img_s=batch / ts["median_s"],
            torch_threads=torch.get_num_threads(),
            speedup_jax_over_torch=ts["median_s"] / step_s,
            torch_gflops=gflop / ts["median_s"], torch_frac_of_roof=frac(gflop, ts["median_s"]),
            **first_step_check(m0, gn0, tl0, tparts, tgn),
        )
        if sbk:
            rec.update(gk_norm_jax=gk0, gk_norm_torch=tgk0, gk_norm_rel_err=rel_err(gk0, tgk0))
        rec["check_note"] = (
            "step 0 of both from identical params/batch/style ids: loss (and parts), and the global L2 norm of "
            "the gradient (JAX: from Adam's first moment after step 0)"
            + (", per group (ae = E, D; banks) and gk_norm (E, D, as the task keeps it)" if sbk
               else ", per group (net = convs; styles = every γ/β)")
        )
    else:
        rec.update(loss_jax=m0["loss"], loss_parts_jax={k: m0[k] for k in LOSS_PARTS}, grad_norm_jax=gn0["all"])
    return rec


def case_forward(params, cfg, model_info, args, timing, threads):
    """Inference, batch 1, one style: JAX (`stylize`, jitted) vs the PyTorch twin of the same net
    (`torch.inference_mode`), per method and size, plus each method's time per pixel relative to
    StyleBank's at that size (issue #21)."""
    from styljax.nets import transform as tr

    torch = None if args.no_torch else torch_or_none()
    rng = np.random.default_rng(args.seed)
    sb_per_px: dict[int, float] = {}
    for method in ("stylebank", "cin", "johnson"):
        if method == "stylebank":
            p, mcfg, names = params, cfg, sorted(params["banks"])
        else:
            p, mcfg, _ = load_transform_model(method, getattr(args, f"{method}_model"), args.seed)
            names = sorted(p["styles"])
        style = names[0]
        for size in args.forward_sizes:
            x_np = rng.random((1, size, size, 3), dtype=np.float32)
            x = jnp.asarray(x_np)
            if method == "stylebank":
                def jax_fn():
                    return jax.block_until_ready(sb.stylize(p, x, style, mcfg))
            else:
                def jax_fn():
                    return jax.block_until_ready(tr.stylize(p, x, style, mcfg))
            progress(f"forward {method} {size}px: JAX ...")
            first, warm = warm_call(jax_fn)
            js = timeit_clean(jax_fn, **bounded(timing, warm, args.case_budget))
            rec = dict(kind="case", case="forward", bench="stylebank", method=method, style=style, size=size, batch=1,
                       threads=threads, dtype="float32", **timing_fields("jax", js), jax_compile_s=max(0.0, first - warm),
                       jax_img_s=1.0 / js["median_s"])
            if method == "stylebank":
                sb_per_px[size] = js["median_s"]
            elif size in sb_per_px:
                rec["per_pixel_over_stylebank"] = js["median_s"] / sb_per_px[size]
            if torch is not None:
                if method == "stylebank":
                    from bench.torch_stylebank import TorchStyleBank

                    net = TorchStyleBank(mcfg, p, names).eval()
                else:
                    from bench.torch_transform import TorchTransformNet

                    net = TorchTransformNet(mcfg, p, names).eval()
                xt = torch.from_numpy(np.ascontiguousarray(x_np.transpose(0, 3, 1, 2)))

                def torch_fn():
                    with torch.inference_mode():
                        return net(xt, [0])

                out_t = torch_fn().numpy().transpose(0, 2, 3, 1)
                rec["max_abs_diff_vs_torch"] = float(np.abs(np.asarray(jax_fn()) - out_t).max())
                progress(f"forward {method} {size}px: torch ...")
                ts = timeit_clean(torch_fn, **bounded(timing, warm_call(torch_fn)[1], args.case_budget))
                rec.update(**timing_fields("torch", ts), torch_img_s=1.0 / ts["median_s"],
                           speedup_jax_over_torch=ts["median_s"] / js["median_s"])
            emit(rec)


def case_train_step(params, cfg, model_info, args, timing, threads, roof):
    torch = None if args.no_torch else torch_or_none()
    vggw, vgg_source = load_train_vgg()
    for method in args.train_methods:
        if method == "stylebank":
            minfo = model_info
        else:
            mparams, mcfg, minfo = load_transform_model(method, getattr(args, f"{method}_model"), args.seed)
        for crop in args.train_crops:
            if method == "stylebank":
                task = stylebank_train_task(params, cfg, crop, vggw, args.seed)
            else:
                task = transform_train_task(method, mparams, transform_train_config(method, mcfg, crop), vggw, args.seed)
            emit(train_step_row(task, minfo, crop, args, timing, threads, roof, torch, vgg_source))
            del task


def case_memory(model_info, args, threads):
    specs = [
        {"mode": "single", "size": args.size_mem},
        {"mode": "tiled", "size": args.size_tiled, "tile": args.tile, "overlap": args.overlap},
    ]
    for spec in specs:
        spec.update(model=model_info["path"], random=model_info["source"] == "random", seed=args.seed)
        progress(f"memory {spec['mode']} {spec['size']}px: fresh subprocess ...")
        cmd = [sys.executable, "-m", "bench.stylebank", "--memory-child", json.dumps(spec)]
        t0 = time.perf_counter()
        rec = dict(kind="case", case="memory", bench="stylebank", model=model_info["source"],
                   mode=spec["mode"], size=spec["size"], batch=1, threads=threads, dtype="float32")
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=args.mem_timeout)
        except subprocess.TimeoutExpired:
            rec.update(error=f"timed out after {args.mem_timeout}s")
            emit(rec)
            continue
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("{")]
        if proc.returncode != 0 or not lines:
            rec.update(error=f"child exit status {proc.returncode}", stdout_tail=proc.stdout[-500:])
        else:
            rec.update(json.loads(lines[-1]))
        rec["subprocess_wall_s"] = time.perf_counter() - t0
        emit(rec)


def memory_child(spec: dict) -> None:
    """Runs in a fresh process: one stylization, then report ru_maxrss (one JSON line on stdout)."""
    import resource

    def maxrss_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB

    def rss_mib() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB

    def hwm_mib() -> float | None:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            pass
        return None

    def reset_hwm() -> bool:
        try:  # Linux >= 4.0: "5" resets the peak RSS (VmHWM) of this process
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    # no torch import here (it would inflate the baseline); XLA:CPU uses all cores as in the parent
    params, cfg, _ = load_model(spec.get("model"), spec.get("seed", 0), force_random=spec.get("random", False))
    style = sorted(params["banks"])[0]
    size = int(spec["size"])
    rng = np.random.default_rng(spec.get("seed", 0))
    image = rng.random((size, size, 3), dtype=np.float32)
    out: dict[str, Any] = {"style": style, "input_mib": image.nbytes / MIB}
    out["baseline_mib"] = maxrss_mib()
    out["rss_before_mib"] = rss_mib()
    hwm_reset = reset_hwm()
    if spec["mode"] == "single":
        x = jnp.asarray(image[None])
        t0 = time.perf_counter()
        y = jax.block_until_ready(sb.stylize(params, x, style, cfg))
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        y = jax.block_until_ready(sb.stylize(params, x, style, cfg))
        run = time.perf_counter() - t0
        out.update(compile_s=first - run, first_call_s=first, run_s=run, out_mean=float(jnp.mean(y)))
    else:
        tile, overlap = int(spec["tile"]), int(spec["overlap"])
        # compile on one tile-shaped input first, so run_s is the tiled pass alone
        t0 = time.perf_counter()
        jax.block_until_ready(sb.stylize(params, jnp.asarray(image[None, :tile, :tile]), style, cfg))
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        y, info = tiled_stylize(params, cfg, style, image, tile, overlap)
        run = time.perf_counter() - t0
        out.update(compile_s=compile_s, run_s=run, requested_overlap=overlap, **info,
                   s_per_tile=run / info["tiles"], out_mean=float(y.mean()), output_mib=y.nbytes / MIB,
                   note=TILING_NOTE)
    out["peak_mib"] = maxrss_mib()
    out["peak_minus_baseline_mib"] = out["peak_mib"] - out["baseline_mib"]
    out["rss_end_mib"] = rss_mib()
    if hwm_reset:
        # ru_maxrss is a process-lifetime high-water mark, so set-up (e.g. random init) can mask a
        # smaller compute peak; VmHWM was reset just before the compute and isolates it
        out["compute_peak_mib"] = hwm_mib()
        out["compute_peak_over_rss_before_mib"] = out["compute_peak_mib"] - out["rss_before_mib"]
    out["measure"] = "resource.getrusage(RUSAGE_SELF).ru_maxrss in a fresh process (includes runtime + XLA compile)"
    print(json.dumps(out), flush=True)


# ------------------------------------------------------------------------------------------ main


def parse_list(s: str, typ=str) -> list:
    return [typ(v.strip()) for v in s.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None,
                    help=f"StyleBank model dir (default {DEFAULT_MODEL} if it holds one, else random 7 styles)")
    ap.add_argument("--quick", action="store_true", help="throughput at 256 px batch 1 only, fewer reps")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma list from {CASES}")
    ap.add_argument("--no-torch", action="store_true", help="train_step, forward: JAX only")
    ap.add_argument("--forward-sizes", default="256,512", help="forward: image sides, batch 1")
    ap.add_argument("--train-crops", default=None,
                    help="train_step: comma list of crop sizes (default 128,256; e.g. 32 with --quick for a "
                         "fast JAX-vs-torch correctness check)")
    ap.add_argument("--train-methods", default=",".join(TRAIN_METHODS), help=f"train_step: comma list from {TRAIN_METHODS}")
    ap.add_argument("--cin-model", default=None,
                    help=f"train_step: CIN model dir (default {TRANSFORM_MODELS['cin']} if it holds one, else random)")
    ap.add_argument("--johnson-model", default=None,
                    help=f"train_step: Johnson model dir (default {TRANSFORM_MODELS['johnson']} if it holds one, else random)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: cores = XLA:CPU's)")
    ap.add_argument("--min-time", type=float, default=None, help="seconds of timed calls per timing")
    ap.add_argument("--min-reps", type=int, default=None)
    ap.add_argument("--max-reps", type=int, default=50)
    ap.add_argument("--case-budget", type=float, default=None,
                    help="cap on timed seconds per timing when one call is slow (default 60; quick 20)")
    ap.add_argument("--max-others", type=float, default=0.15)
    ap.add_argument("--retries", type=int, default=None, help="re-timings when contaminated (default 2; quick 0)")
    ap.add_argument("--max-idle-wait", type=float, default=None,
                    help="wait up to this many s for other processes to go idle (default 60; quick 3)")
    ap.add_argument("--mem-timeout", type=float, default=900.0, help="seconds per memory subprocess")
    ap.add_argument("--roof-n", type=int, default=None, help="matmul roof size (default 2048, quick 1024; 0 = skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--xla-options", choices=("training", "default"), default="training",
                    help="XLA:CPU options of a train_step-only run: the perceptual trainers' or XLA's defaults")
    # hidden overrides (smoke tests)
    ap.add_argument("--sizes", default=None, help=argparse.SUPPRESS)  # all image sizes, see below
    ap.add_argument("--batches", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--max-styles", type=int, default=N_STYLES, help=argparse.SUPPRESS)
    ap.add_argument("--train-batch", type=int, default=4, help=argparse.SUPPRESS)
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.memory_child is not None:
        memory_child(json.loads(args.memory_child))
        return

    q = args.quick
    cases = parse_list(args.cases)
    for c in cases:
        if c not in CASES:
            ap.error(f"unknown case {c!r}; known {CASES}")
    if args.xla_options == "training" and set(cases) == {"train_step"}:  # as the trainers; before JAX starts
        xla_cpu.use(xla_cpu.PERCEPTUAL_TRAINING)
    args.train_methods = parse_list(args.train_methods)
    for m in args.train_methods:
        if m not in TRAIN_METHODS:
            ap.error(f"unknown train method {m!r}; known {TRAIN_METHODS}")
    if args.sizes:  # --sizes S1,S2,...: render_all/train at S1, throughput at all, memory at max
        sizes = parse_list(args.sizes, int)
        args.size_render = sizes[0]
        args.train_crops = args.train_crops or str(sizes[0])
        args.sizes_throughput = sizes
        args.size_mem = args.tile = max(sizes)
        args.size_tiled = 4 * max(sizes)
        args.overlap = max(4, max(sizes) // 16)
    else:
        args.size_render = 256
        args.sizes_throughput = [256] if q else [256, 512, 1024]
        args.size_mem, args.size_tiled, args.tile, args.overlap = 1024, 4096, 1024, 64
    args.batches = parse_list(args.batches, int) if args.batches else ([1] if q else [1, 8])
    args.forward_sizes = parse_list(args.forward_sizes, int)
    args.train_crops = parse_list(args.train_crops or "128,256", int)
    if any(c < 16 for c in args.train_crops):
        ap.error("--train-crops: every crop must be >= 16 px")
    if args.max_idle_wait is None:
        args.max_idle_wait = 3.0 if q else 60.0
    if args.case_budget is None:
        args.case_budget = 20.0 if q else 60.0
    timing = dict(
        warmup=1, min_time=args.min_time if args.min_time is not None else (0.5 if q else 2.0),
        max_reps=args.max_reps, min_reps=args.min_reps if args.min_reps is not None else (2 if q else 3),
        max_others=args.max_others, retries=args.retries if args.retries is not None else (0 if q else 2),
        idle_wait=args.max_idle_wait,
    )

    threads = thread_setup(args.threads)
    roof_n = args.roof_n if args.roof_n is not None else (1024 if q else 2048)
    roof = None
    if roof_n > 0:
        progress(f"measuring matmul roof (n={roof_n}) ...")
        roof = matmul_roof(roof_n, np.float32, min_time=0.5 if q else 1.5, idle_wait=args.max_idle_wait)
    progress("loading model ...")
    params, cfg, model_info = load_model(args.model, args.seed)
    header = machine_info()
    header.update(
        bench="stylebank", threads=threads, matmul_roof=roof, model=model_info,
        config=dict(
            cases=cases, quick=q, render_all_size=args.size_render, render_all_max_k=args.max_styles,
            throughput_sizes=args.sizes_throughput, throughput_batches=args.batches,
            train_batch=args.train_batch, train_crops=args.train_crops, train_methods=args.train_methods,
            memory=dict(single_size=args.size_mem, tiled_size=args.size_tiled, tile=args.tile,
                        overlap=args.overlap),
            timing=timing, case_budget_s=args.case_budget, dtype="float32",
        ),
        notes=(
            "JAX (XLA:CPU) jit-compiled before timing; torch (train_step) on the same thread count. "
            "Model weights do not affect speed. Ratios > 1 favour render_all / JAX. " + TILING_NOTE
        ),
    )
    emit(header)
    roof_gflops = roof["jax_gflops"] if roof else None

    for c in cases:
        progress(f"case {c}")
        if c == "render_all":
            case_render_all(params, cfg, model_info, args, timing, threads)
        elif c == "throughput":
            case_throughput(params, cfg, model_info, args, timing, threads, roof_gflops)
        elif c == "bytes":
            case_bytes(params, cfg, model_info, args)
        elif c == "train_step":
            case_train_step(params, cfg, model_info, args, timing, threads, roof_gflops)
        elif c == "forward":
            case_forward(params, cfg, model_info, args, timing, threads)
        elif c == "memory":
            case_memory(model_info, args, threads)
    progress("done")


if __name__ == "__main__":
    main()
