"""StyleBank on CPU: multi-style rendering, inference throughput, model bytes, training step vs
PyTorch, and peak memory.

    python -m bench.stylebank [--model DIR] [--quick] [--cases render_all,throughput,bytes,train_step,memory]

Model: `--model DIR` (a `styljax.models.stylebank_store` model); by default `checkpoints/stylebank`
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
train_step  (one line; batch 4, 128 px crops)
    `StyleBankTask.train_step` jitted with `static_argnames="phase", donate_argnums=0`:
    `jax_phase0_s` (stylising branch: E, K_i, D forward, VGG-16 loss net on output + content,
    backward, Adam), `jax_phase1_s` (auto-encoder branch, identity loss), `jax_schedule_s` (mean
    over one T+1 block: (T·phase0 + phase1)/(T+1)). `torch_s`: the same stylising step in PyTorch
    (`bench/torch_stylebank.py`: same architecture and weights, reflect-padded convs, InstanceNorm2d
    (affine), VGG-16 up to relu4_2 with copied weights and caffe preprocessing, content + Gram "chw"
    style (per-image targets = the JAX task's) + TV losses, one Adam over all params) on the same
    number of threads. `speedup_jax_over_torch` = torch_s / jax_phase0_s (> 1: JAX faster).
    `*_img_s` = batch / seconds. Check: both compute the first step from the same params, batch and
    style ids: `loss_rel_err` (and per part) and `gk_norm_rel_err` (global L2 norm of ∂L/∂(E, D)).
memory  (one line per sub-case, each in a fresh subprocess)
    Peak resident memory (`ru_maxrss`, includes the Python/JAX runtime and XLA compilation) while
    stylising one 1024x1024 image (`mode: "single"`), and a 4096x4096 image in 1024 px tiles with
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

from bench.common import emit, log, machine_info, matmul_roof, thread_setup, timeit_clean, torch_or_none
from styljax.models import stylebank as sb
from styljax.models.style_store import config_to_dict

CASES = ("render_all", "throughput", "bytes", "train_step", "memory")
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
    from styljax.models import stylebank_store as store

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


def stylize_flops(cfg: sb.StyleBankConfig, h: int, w: int) -> dict:
    """Analytic conv FLOPs per image (2·H·W·k²·Cin·Cout): {"encoder", "bank", "decoder"}."""
    def conv(hh, ww, k, cin, cout):
        return 2.0 * hh * ww * k * k * cin * cout

    hh, ww = _ceil_div(h, sb.DOWNSAMPLE) * sb.DOWNSAMPLE, _ceil_div(w, sb.DOWNSAMPLE) * sb.DOWNSAMPLE
    ch = cfg.channels
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
    return {"encoder": enc, "bank": bank, "decoder": dec}


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
    """Stylise an (H, W, 3) image in overlapping tiles (`styljax.tiling.map_tiles`): one
    compilation for the tile shape. NB instance-norm statistics are per tile (see TILING_NOTE)."""
    from styljax import tiling

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


def case_train_step(params, cfg, model_info, args, timing, threads):
    from styljax import weights as weights_lib
    from styljax.tasks.stylebank import StyleBankLoss, StyleBankTask, StyleBankTrainConfig
    from styljax.vgg import random_weights

    torch = None if args.no_torch else torch_or_none()
    batch, crop = args.train_batch, args.size_train
    try:
        vggw = weights_lib.load_default()
        vgg_source = "default"
    except Exception as e:  # noqa: BLE001 - any failure: fall back to random weights (same speed)
        progress(f"train_step: default VGG weights unavailable ({e}); using random VGG weights")
        vggw = random_weights(16)
        vgg_source = "random"
    names = sorted(params["banks"])
    loss_cfg = StyleBankLoss(style_size=min(256, crop))  # style image size only affects constants()
    tcfg = StyleBankTrainConfig(model=cfg, loss=loss_cfg)
    rng = np.random.default_rng(args.seed)
    styles = {n: rng.random((64, 64, 3), dtype=np.float32) for n in names}
    init = np_copy({"encoder": params["encoder"], "decoder": params["decoder"],
                    "banks": {n: params["banks"][n] for n in names}})
    task = StyleBankTask(tcfg, vggw, styles, init_params=init)
    progress(f"train_step: Gram targets of {len(names)} styles ...")
    consts = task.constants()
    images_np = rng.random((batch, crop, crop, 3), dtype=np.float32)
    data = {"image": jnp.asarray(images_np)}
    step = jax.jit(task.train_step, static_argnames="phase", donate_argnums=0)
    holder = {"state": task.init_state(jax.random.key(args.seed)), "metrics": None}

    def run(phase):
        def fn():
            s, m = step(holder["state"], data, consts, phase=phase)
            jax.block_until_ready((s, m))
            holder["state"], holder["metrics"] = s, m
        return fn

    rec: dict[str, Any] = dict(
        kind="case", case="train_step", bench="stylebank", model=model_info["source"], batch=batch, crop=crop,
        n_styles=len(names), threads=threads, dtype="float32", vgg_weights=vgg_source,
        T=tcfg.T, loss_layers=list(loss_cfg.layers),
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*donated buffers were not usable.*")
        progress(f"train_step b{batch} {crop}px: compiling JAX phase 0 ...")
        t0 = time.perf_counter()
        run(0)()  # step 0 from the initial params: its metrics are the reference for the torch check
        first0 = time.perf_counter() - t0
        m0 = {k: float(v) for k, v in holder["metrics"].items()}
        gk0 = float(holder["state"].extra["gk_norm"])
        p0_first, p0_warm = first0, warm_call(run(0))[0]
        progress(f"train_step: timing JAX phase 0 (warm {p0_warm:.2f}s) ...")
        s0 = timeit_clean(run(0), **bounded(timing, p0_warm, args.case_budget))
        progress("train_step: compiling JAX phase 1 ...")
        p1_first, p1_warm = warm_call(run(1))
        progress(f"train_step: timing JAX phase 1 (warm {p1_warm:.2f}s) ...")
        s1 = timeit_clean(run(1), **bounded(timing, p1_warm, args.case_budget))
    del holder, step
    rec.update(
        **timing_fields("jax_phase0", s0), jax_phase0_compile_s=p0_first - p0_warm,
        jax_phase0_img_s=batch / s0["median_s"],
        **timing_fields("jax_phase1", s1), jax_phase1_compile_s=p1_first - p1_warm,
        jax_phase1_img_s=batch / s1["median_s"],
    )
    sched = (tcfg.T * s0["median_s"] + s1["median_s"]) / (tcfg.T + 1)
    rec.update(jax_schedule_s=sched, jax_schedule_img_s=batch / sched)

    if torch is not None:
        from bench.torch_stylebank import TorchStyleBankTrainer

        progress("train_step: building the PyTorch mirror ...")
        grams = {l: np.asarray(g) for l, g in consts["grams"].items()}
        trainer = TorchStyleBankTrainer(cfg, init, names, vggw, loss_cfg, grams, lr=tcfg.learning_rate)
        x = torch.from_numpy(np.ascontiguousarray(images_np.transpose(0, 3, 1, 2)))
        t0 = time.perf_counter()
        tl0 = trainer.step(x)  # step 0 from the same params, batch and style ids as the JAX one
        first_t = time.perf_counter() - t0
        tparts = {k: float(v) for k, v in trainer.last_parts.items()}
        tgk0 = float(trainer.gk_norm)

        def rel(a, b):
            return abs(a - b) / max(abs(b), 1e-30)

        t_warm = warm_call(lambda: trainer.step(x))[0]
        progress(f"train_step: timing torch (warm {t_warm:.2f}s) ...")
        ts = timeit_clean(lambda: trainer.step(x), **bounded(timing, t_warm, args.case_budget))
        rec.update(
            **timing_fields("torch", ts), torch_first_step_s=first_t, torch_img_s=batch / ts["median_s"],
            torch_threads=torch.get_num_threads(),
            speedup_jax_over_torch=ts["median_s"] / s0["median_s"],
            loss_jax=m0["loss"], loss_torch=tl0, loss_rel_err=rel(m0["loss"], tl0),
            loss_parts_rel_err={k: rel(m0[k], tparts[k]) for k in ("content", "style", "tv")},
            gk_norm_jax=gk0, gk_norm_torch=tgk0, gk_norm_rel_err=rel(gk0, tgk0),
            check_note="step 0 of both from identical params/batch/style ids: loss and the global "
                       "L2 norm of the E, D gradient",
        )
    emit(rec)


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
    """Runs in a fresh process: one stylisation, then report ru_maxrss (one JSON line on stdout)."""
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
    ap.add_argument("--no-torch", action="store_true", help="train_step: JAX only")
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
    if args.sizes:  # --sizes S1,S2,...: render_all/train at S1, throughput at all, memory at max
        sizes = parse_list(args.sizes, int)
        args.size_render = args.size_train = sizes[0]
        args.sizes_throughput = sizes
        args.size_mem = args.tile = max(sizes)
        args.size_tiled = 4 * max(sizes)
        args.overlap = max(4, max(sizes) // 16)
    else:
        args.size_render, args.size_train = 256, 128
        args.sizes_throughput = [256] if q else [256, 512, 1024]
        args.size_mem, args.size_tiled, args.tile, args.overlap = 1024, 4096, 1024, 64
    args.batches = parse_list(args.batches, int) if args.batches else ([1] if q else [1, 8])
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
            train_batch=args.train_batch, train_crop=args.size_train,
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
            case_train_step(params, cfg, model_info, args, timing, threads)
        elif c == "memory":
            case_memory(model_info, args, threads)
    progress("done")


if __name__ == "__main__":
    main()
