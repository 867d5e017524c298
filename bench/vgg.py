"""VGG-16 feature-extractor throughput on CPU: styljax (JAX/Flax, NHWC) vs the same net in PyTorch.

    python -m bench.vgg [--quick] [--sizes 256,512] [--batches 1,4] [--layers relu4_3,relu5_3]

Cases: image size x batch x deepest layer x mode, where mode is
  fwd         forward only (torch under `torch.inference_mode()`),
  grad_input  forward + backward of sum(activation) w.r.t. the INPUT image, params fixed
              (what Gatys-style optimisation needs; counted as 2x forward FLOPs),
  grad_all    forward + backward w.r.t. the input and all conv params (3x forward FLOPs).

FLOPs are analytic: sum over the conv layers executed of 2*H*W*Cin*Cout*9 per image (multiply and
add counted separately; ReLU, pooling and preprocessing ignored).

The PyTorch model is the same architecture (Conv2d 3x3 pad 1 + ReLU, MaxPool2d(2) between blocks,
NCHW float32) with the same random weights copied from the Flax params (HWIO -> OIHW), run with the
same thread count as XLA:CPU. Both sides apply the caffe preprocessing (RGB [0,1] -> BGR*255-mean)
inside the timed call. Once per (size, layer), at the first batch size, the outputs (and the input
gradients) of both are compared on the same input: max_rel_err = max|jax - torch| / max|torch|;
for gradients also l2_rel_err = ||jax - torch||_2 / ||torch||_2. Forward outputs agree to ~1e-6.
Input gradients of a ReLU net are discontinuous: a pre-activation within float32 rounding of 0
(|z| ~ 1e-5 against a typical |z| ~ 30) can take a different sign in the two libraries, which
switches one unit's whole back-projected contribution on or off. So max_rel_err_grad_input can be
a few 1e-2 with a small l2_rel_err (~1e-3) even though both are correct to float32 rounding;
at small sizes (e.g. 64 px) there are usually no such flips and the gradients agree to ~1e-6.

Timing: JIT compilation happens before timing (`jax_compile_s`); each timing is a median over >= 3
calls and >= 2 s after 1 warm-up call (quick: >= 2 calls, 0.5 s). The machine may be shared: before
each timing the run waits (up to --max-idle-wait s) for other processes to go idle, and re-times a
case (up to --retries times) when other processes kept more than --max-others cores busy meanwhile;
`jax_others_cores` / `torch_others_cores` record how many cores others used during the kept timing
(> ~0.15 on this 2-core machine means the number is contaminated).

A layout variation (`kind: "variant"`, plain-lax NCHW/OIHW convs instead of the Flax NHWC module)
is timed at --variant-sizes, batch 1, deepest layer, fwd and grad_input.

stdout: one header JSON line, then one JSON line per case. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bench.common import (
    compile_jax,
    emit,
    log,
    machine_info,
    matmul_roof,
    thread_setup,
    timeit_clean,
    torch_or_none,
)
from styljax.nets.vgg import CHANNELS, CONVS_PER_BLOCK, conv_names, random_weights, relu_names

DEPTH = 16
MODES = ("fwd", "grad_input", "grad_all")
FLOP_FACTOR = {"fwd": 1, "grad_input": 2, "grad_all": 3}
FLOP_RULE = {
    "fwd": "forward convs: sum 2*H*W*Cin*Cout*9",
    "grad_input": "2x forward (fwd + input-gradient convs; no weight grads)",
    "grad_all": "3x forward (fwd + input-gradient + weight-gradient convs)",
}


# ----------------------------------------------------------------------------- architecture facts


def conv_plan(size: int, layer: str, depth: int = DEPTH) -> list[tuple[str, int, int, int, int]]:
    """[(conv name, H, W, Cin, Cout)] for every conv executed up to and including `layer`."""
    deepest = relu_names(depth).index(layer)
    plan, h, w, cin, i = [], size, size, 3, 0
    for block, n in enumerate(CONVS_PER_BLOCK[depth]):
        if block > 0:
            h, w = h // 2, w // 2  # 2x2 max pool, stride 2, VALID
        for c in range(n):
            cout = CHANNELS[block]
            plan.append((f"conv{block + 1}_{c + 1}", h, w, cin, cout))
            cin = cout
            if i == deepest:
                return plan
            i += 1
    return plan


def forward_flops(size: int, batch: int, layer: str, depth: int = DEPTH) -> float:
    return float(batch * sum(2 * h * w * ci * co * 9 for _, h, w, ci, co in conv_plan(size, layer, depth)))


# ----------------------------------------------------------------------------- PyTorch twin


def build_torch(params: dict, layer: str, convention, depth: int = DEPTH):
    """The same VGG trunk in PyTorch (NCHW), weights copied from the Flax params, plus a
    preprocessing function equivalent to `styljax.nets.vgg.preprocess`."""
    import torch
    from torch import nn

    names = conv_names(depth)
    deepest = relu_names(depth).index(layer)
    mods: list[nn.Module] = []
    cin, i = 3, 0
    done = False
    for block, n in enumerate(CONVS_PER_BLOCK[depth]):
        if block > 0:
            mods.append(nn.MaxPool2d(2))
        for c in range(n):
            name = f"conv{block + 1}_{c + 1}"
            assert name == names[i]
            conv = nn.Conv2d(cin, CHANNELS[block], kernel_size=3, padding=1)
            k = np.array(params[name]["kernel"], np.float32)  # HWIO (writable copy)
            b = np.array(params[name]["bias"], np.float32)
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1))))
                conv.bias.copy_(torch.from_numpy(b))
            mods += [conv, nn.ReLU(inplace=True)]
            cin = CHANNELS[block]
            if i == deepest:
                done = True
                break
            i += 1
        if done:
            break
    model = nn.Sequential(*mods).eval()

    order = [2, 1, 0] if convention.channel_order == "bgr" else [0, 1, 2]
    mean = torch.tensor(convention.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(convention.std, dtype=torch.float32).view(1, 3, 1, 1)
    scale = float(convention.scale)

    def preprocess(x):  # NCHW RGB [0, 1]
        return (x[:, order] * scale - mean) / std

    return model, preprocess


# ----------------------------------------------------------------------------- JAX NCHW variant


def lax_nchw_features(params: dict, images: jax.Array, layer: str, convention, depth: int = DEPTH):
    """Plain-lax VGG trunk in NCHW/OIHW layout (layout variation; same math as the Flax module)."""
    from styljax.nets.vgg import preprocess

    x = preprocess(images.astype(jnp.float32), convention)  # NHWC
    x = jnp.transpose(x, (0, 3, 1, 2))
    for name, *_ in conv_plan(images.shape[1], layer, depth):
        if name.endswith("_1") and name != "conv1_1":
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        k = jnp.transpose(params[name]["kernel"], (3, 2, 0, 1))
        x = jax.lax.conv_general_dilated(
            x, k, (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW")
        )
        x = jax.nn.relu(x + params[name]["bias"][None, :, None, None])
    return x  # NCHW


# ----------------------------------------------------------------------------- helpers


def max_rel_err(a, b) -> float:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    denom = float(np.max(np.abs(b)))
    return float(np.max(np.abs(a - b)) / denom) if denom > 0 else float(np.max(np.abs(a - b)))


def l2_rel_err(a, b) -> float:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def parse_list(s: str, typ=str) -> list:
    return [typ(v.strip()) for v in s.split(",") if v.strip()]


def jax_fns(extract, layer: str) -> dict:
    def fwd(p, x):
        return extract(p, x)[layer]

    def loss(p, x):
        return jnp.sum(extract(p, x)[layer])

    return {
        "fwd": fwd,
        "grad_input": jax.grad(loss, argnums=1),
        "grad_all": jax.grad(loss, argnums=(0, 1)),
    }


def torch_fns(model, pre) -> dict:
    import torch

    params = list(model.parameters())

    def fwd(x):
        with torch.inference_mode():
            return model(pre(x))

    def grad_input(x):
        xi = x.detach().requires_grad_(True)
        out = model(pre(xi))
        (g,) = torch.autograd.grad(out.sum(), xi)
        return g

    def grad_all(x):
        xi = x.detach().requires_grad_(True)
        out = model(pre(xi))
        return torch.autograd.grad(out.sum(), [xi, *params])

    return {"fwd": fwd, "grad_input": grad_input, "grad_all": grad_all}


def torch_set_param_grad(model, on: bool) -> None:
    for p in model.parameters():
        p.requires_grad_(on)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="256 px, batch 1, fwd+grad_input, few reps (<~2 min)")
    ap.add_argument("--sizes", default=None, help="comma list of square image sizes (default 256,512)")
    ap.add_argument("--batches", default=None, help="comma list of batch sizes (default 1,4)")
    ap.add_argument("--layers", default=None, help="deepest layers (default relu4_3,relu5_3)")
    ap.add_argument("--modes", default=None, help=f"comma list from {MODES} (default all; quick: fwd,grad_input)")
    ap.add_argument(
        "--grad-all-batches",
        default=None,
        help="batch sizes at which grad_all is run (default: 1 only, to bound the run time)",
    )
    ap.add_argument("--variant-sizes", default=None,
                    help="sizes at which the plain-lax NCHW JAX variant is also timed (batch 1, deepest "
                         "layer, fwd/grad_input; default 256, quick: none; '' to disable)")
    ap.add_argument("--no-torch", action="store_true", help="JAX only")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: cores = XLA:CPU's)")
    ap.add_argument("--min-time", type=float, default=None, help="seconds of timed calls per case")
    ap.add_argument("--min-reps", type=int, default=None)
    ap.add_argument("--max-reps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls after compilation")
    ap.add_argument("--roof-n", type=int, default=None, help="matmul size for the roof (default 2048)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-others", type=float, default=0.15,
                    help="re-time a case when other processes kept more than this many cores busy")
    ap.add_argument("--retries", type=int, default=None, help="re-timings allowed per case (default 2; quick 0)")
    ap.add_argument("--max-idle-wait", type=float, default=None,
                    help="before each timing wait up to this many s for other processes to go idle "
                         "(default 60; quick 3; 0 = never wait)")
    args = ap.parse_args(argv)

    q = args.quick
    if args.max_idle_wait is None:
        args.max_idle_wait = 3.0 if q else 60.0
    sizes = parse_list(args.sizes or ("256" if q else "256,512"), int)
    batches = parse_list(args.batches or ("1" if q else "1,4"), int)
    layers = parse_list(args.layers or "relu4_3,relu5_3")
    modes = parse_list(args.modes or ("fwd,grad_input" if q else ",".join(MODES)))
    grad_all_batches = set(parse_list(args.grad_all_batches or "1", int))
    vs = args.variant_sizes if args.variant_sizes is not None else ("" if q else "256")
    variant_sizes = set(parse_list(vs, int))
    min_time = args.min_time if args.min_time is not None else (0.5 if q else 2.0)
    min_reps = args.min_reps if args.min_reps is not None else (2 if q else 3)
    roof_n = args.roof_n or (1024 if q else 2048)
    for m in modes:
        if m not in MODES:
            ap.error(f"unknown mode {m!r}; known {MODES}")
    for layer in layers:
        if layer not in relu_names(DEPTH):
            ap.error(f"unknown layer {layer!r}")

    torch = None if args.no_torch else torch_or_none()
    threads = thread_setup(args.threads)
    timing = dict(
        warmup=args.warmup, min_time=min_time, max_reps=args.max_reps, min_reps=min_reps,
        max_others=args.max_others, retries=args.retries if args.retries is not None else (0 if q else 2),
        idle_wait=args.max_idle_wait,
    )

    log(f"measuring matmul roof (n={roof_n}) ...")
    roof = matmul_roof(roof_n, np.float32, min_time=0.5 if q else 1.5, idle_wait=args.max_idle_wait)
    header = machine_info()
    header.update(
        bench="vgg",
        threads=threads,
        matmul_roof=roof,
        config=dict(
            sizes=sizes, batches=batches, layers=layers, modes=modes,
            grad_all_batches=sorted(grad_all_batches), variant_sizes=sorted(variant_sizes),
            timing=timing, quick=q, depth=DEPTH, dtype="float32",
        ),
        notes=(
            "jax: styljax.nets.vgg Flax module (NHWC/HWIO, XLA:CPU), jit-compiled before timing; "
            "torch: same net as nn.Sequential (NCHW/OIHW) with copied weights; both include caffe "
            "preprocessing. ratio_jax_over_torch = torch_s/jax_s (>1: JAX faster). "
            "max_rel_err = max|jax-torch|/max|torch| on the same input."
        ),
    )
    emit(header)
    roof_jax = roof["jax_gflops"]
    roof_torch = roof.get("torch_gflops")

    weights = random_weights(DEPTH, jax.random.key(args.seed))
    params = weights.params
    conv = weights.convention
    rng = np.random.default_rng(args.seed)
    t_start = time.perf_counter()

    for size in sizes:
        for layer in layers:
            extract = weights.extractor((layer,))
            jfns = jax_fns(extract, layer)
            tmodel = tpre = tfns = None
            if torch is not None:
                tmodel, tpre = build_torch(params, layer, conv)
                tfns = torch_fns(tmodel, tpre)
            check: dict[str, Any] = {}
            for bi, batch in enumerate(batches):
                images_np = rng.random((batch, size, size, 3), dtype=np.float32)
                images = jnp.asarray(images_np)
                timages = (
                    torch.from_numpy(np.ascontiguousarray(images_np.transpose(0, 3, 1, 2)))
                    if torch is not None else None
                )
                fl = forward_flops(size, batch, layer)
                for mode in modes:
                    if mode == "grad_all" and batch not in grad_all_batches:
                        continue
                    case = f"{size}px b{batch} {layer} {mode}"
                    log(f"[{time.perf_counter() - t_start:7.1f}s] {case}: compiling ...")
                    jc, compile_s = compile_jax(jfns[mode], params, images)
                    jout = jc(params, images)
                    jax.block_until_ready(jout)
                    rec: dict[str, Any] = dict(
                        kind="case", bench="vgg16", impl="flax_nhwc", size=size, batch=batch,
                        layer=layer, mode=mode, dtype="float32", threads=threads,
                    )

                    # --- numerical check vs torch, once per (size, layer), at the first batch
                    if torch is not None and bi == 0:
                        if mode == "fwd" or "fwd" not in check:
                            if mode == "fwd":
                                ja = jout
                            else:
                                ja = jax.jit(jfns["fwd"])(params, images)
                            tout = tfns["fwd"](timages).numpy().transpose(0, 2, 3, 1)
                            check["fwd"] = max_rel_err(ja, tout)
                            # torch-side preprocessing equals styljax.nets.vgg.preprocess
                            from styljax.nets.vgg import preprocess

                            check["preprocess"] = max_rel_err(
                                tpre(timages).numpy().transpose(0, 2, 3, 1),
                                preprocess(images, conv),
                            )
                        if mode in ("grad_input", "grad_all"):
                            torch_set_param_grad(tmodel, mode == "grad_all")
                            tg = tfns[mode](timages)
                            tg_in = (tg if mode == "grad_input" else tg[0]).numpy().transpose(0, 2, 3, 1)
                            jg_in = jout if mode == "grad_input" else jout[1]
                            check[mode] = max_rel_err(jg_in, tg_in)
                            check[mode + "_l2"] = l2_rel_err(jg_in, tg_in)
                            if mode == "grad_all":
                                # weight gradient of the first conv, HWIO vs OIHW
                                tgw = tg[1].numpy().transpose(2, 3, 1, 0)
                                check["grad_all_w_conv1_1"] = max_rel_err(
                                    jout[0]["conv1_1"]["kernel"], tgw
                                )
                    del jout
                    if check:
                        rec["max_rel_err"] = check.get("fwd")
                        rec["max_rel_err_checked_at_batch"] = batches[0]
                        if mode in ("grad_input", "grad_all") and mode in check:
                            rec["max_rel_err_grad_input"] = check[mode]
                            rec["l2_rel_err_grad_input"] = check[mode + "_l2"]
                        if mode == "grad_all" and "grad_all_w_conv1_1" in check:
                            rec["max_rel_err_grad_w_conv1_1"] = check["grad_all_w_conv1_1"]
                        rec["max_rel_err_preprocess"] = check.get("preprocess")

                    # --- JAX timing
                    log(f"[{time.perf_counter() - t_start:7.1f}s] {case}: timing jax (compile {compile_s:.1f}s) ...")
                    js = timeit_clean(lambda: jax.block_until_ready(jc(params, images)), **timing)
                    waited = js["waited_s"]
                    del jc
                    gflop = fl * FLOP_FACTOR[mode] / 1e9
                    rec.update(
                        jax_s=js["median_s"], jax_min_s=js["min_s"], jax_reps=js["reps"],
                        jax_compile_s=compile_s, jax_img_s=batch / js["median_s"],
                        jax_others_cores=js["others_cores"], jax_attempts=js["attempts"],
                        gflop=gflop, gflop_rule=FLOP_RULE[mode],
                        jax_gflops=gflop / js["median_s"],
                        roof_gflops=roof_jax, jax_frac_of_roof=gflop / js["median_s"] / roof_jax,
                    )

                    # --- torch timing
                    if torch is not None:
                        torch_set_param_grad(tmodel, mode == "grad_all")
                        log(f"[{time.perf_counter() - t_start:7.1f}s] {case}: timing torch ...")
                        ts = timeit_clean(lambda: tfns[mode](timages), **timing)
                        waited += ts["waited_s"]
                        rec.update(
                            torch_s=ts["median_s"], torch_min_s=ts["min_s"], torch_reps=ts["reps"],
                            torch_img_s=batch / ts["median_s"], torch_others_cores=ts["others_cores"],
                            torch_attempts=ts["attempts"],
                            torch_gflops=gflop / ts["median_s"],
                            ratio_jax_over_torch=ts["median_s"] / js["median_s"],
                            torch_roof_gflops=roof_torch,
                            torch_frac_of_torch_roof=(gflop / ts["median_s"] / roof_torch) if roof_torch else None,
                            torch_frac_of_jax_roof=gflop / ts["median_s"] / roof_jax,
                        )
                    rec["waited_for_idle_s"] = waited
                    emit(rec)

                    # --- layout variation: plain-lax NCHW JAX (cheap cases only)
                    if (
                        size in variant_sizes and bi == 0 and layer == layers[-1]
                        and mode in ("fwd", "grad_input")
                    ):
                        emit_variant(
                            params, images, layer, conv, mode, size, batch, threads, fl,
                            roof_jax, timing, rec, t_start,
                        )

    log(f"done in {time.perf_counter() - t_start:.1f}s")


def emit_variant(params, images, layer, conv, mode, size, batch, threads, fl, roof_jax, timing, ref, t_start):
    def fwd(p, x):
        return lax_nchw_features(p, x, layer, conv)

    def loss(p, x):
        return jnp.sum(fwd(p, x))

    f = fwd if mode == "fwd" else jax.grad(loss, argnums=1)
    case = f"{size}px b{batch} {layer} {mode} [lax_nchw]"
    log(f"[{time.perf_counter() - t_start:7.1f}s] {case}: compiling + timing ...")
    jc, compile_s = compile_jax(f, params, images)
    out = jc(params, images)
    if mode == "fwd":
        ref_out = jax.jit(lambda p, x: flax_extract(p, x, layer, conv))(params, images)
        err = max_rel_err(np.asarray(out).transpose(0, 2, 3, 1), ref_out)
    else:
        ref_out = jax.jit(jax.grad(lambda p, x: jnp.sum(flax_extract(p, x, layer, conv)), argnums=1))(
            params, images
        )
        err = l2_rel_err(out, ref_out)
    del out, ref_out
    js = timeit_clean(lambda: jax.block_until_ready(jc(params, images)), **timing)
    oc = js["others_cores"]
    gflop = fl * FLOP_FACTOR[mode] / 1e9
    rec = dict(
        kind="variant", bench="vgg16", impl="jax_lax_nchw", size=size, batch=batch, layer=layer,
        mode=mode, dtype="float32", threads=threads,
        jax_s=js["median_s"], jax_min_s=js["min_s"], jax_reps=js["reps"], jax_compile_s=compile_s,
        jax_img_s=batch / js["median_s"], jax_others_cores=oc, jax_attempts=js["attempts"], gflop=gflop, gflop_rule=FLOP_RULE[mode],
        jax_gflops=gflop / js["median_s"], roof_gflops=roof_jax,
        jax_frac_of_roof=gflop / js["median_s"] / roof_jax,
        rel_err_vs_flax=err,
        rel_err_vs_flax_rule="fwd: max|a-b|/max|b|; grad_input: ||a-b||_2/||b||_2",
        flax_nhwc_s=ref.get("jax_s"),
        speedup_vs_flax_nhwc=ref["jax_s"] / js["median_s"],
    )
    if "torch_s" in ref:
        rec.update(
            torch_s=ref["torch_s"], torch_img_s=ref["torch_img_s"],
            torch_gflops=ref["torch_gflops"],
            ratio_jax_over_torch=ref["torch_s"] / js["median_s"],
        )
    emit(rec)


def flax_extract(params, images, layer, conv):
    """The Flax module's activation (reference for the NCHW variant)."""
    from styljax.nets.vgg import VGG

    return VGG(depth=DEPTH, convention=conv).apply({"params": params}, images, (layer,))[layer]


if __name__ == "__main__":
    main()
