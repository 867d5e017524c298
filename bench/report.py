"""Markdown tables from benchmark JSON lines: `python -m bench.report KIND FILE.jsonl`.

KIND: vgg, gatys, stylebank, stylebank_quality, patchmatch, conv_loop, video, baselines, serve_load,
quality, strength, profile_step.

BENCHMARKS.md quotes these tables; the JSON lines themselves are committed under `bench/results/`.
"""

from __future__ import annotations

import json
import sys


def _rows(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def _fmt(x, nd=2):
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def vgg(path: str) -> str:
    rows = _rows(path)
    header = next((r for r in rows if r.get("kind") == "header"), {})
    roof = header.get("matmul_roof", {})
    out = [
        f"Matmul roof (2048², fp32): JAX {_fmt(roof.get('jax_gflops'), 0)} GFLOP/s, "
        f"PyTorch {_fmt(roof.get('torch_gflops'), 0)} GFLOP/s; {header.get('cpu_count')} cores "
        f"({header.get('cpu_model')}), jax {header.get('jax')}, torch {header.get('torch')}.",
        "",
        "| size | batch | to layer | mode | JAX img/s | JAX GFLOP/s | % of roof | PyTorch img/s | JAX/PyTorch speed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("kind") != "case":
            continue
        out.append(
            f"| {r['size']} | {r['batch']} | {r['layer']} | {r['mode']} | {_fmt(r.get('jax_img_s'))} | "
            f"{_fmt(r.get('jax_gflops'), 0)} | {_fmt(100 * (r.get('jax_frac_of_roof') or 0), 0)}% | "
            f"{_fmt(r.get('torch_img_s'))} | {_fmt(r.get('ratio_jax_over_torch'))} |"
        )
    return "\n".join(out)


def gatys(path: str) -> str:
    rows = [r for r in _rows(path) if r.get("case")]
    out = [
        "| size | optimizer | target loss | steps to target | seconds to target | s/step | loss after run |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        steps = r["steps_to_target"] if r["reached"] else f"not in {r.get('max_steps', '?')}"
        out.append(
            f"| {r['size']} | {r['optimizer']} | {_fmt(r['target_loss'], 1)} | {steps} | "
            f"{_fmt(r.get('seconds_to_target'), 1)} | {_fmt(r['s_per_step'])} | {_fmt(r['final_loss'], 1)} |"
        )
    return "\n".join(out)


def stylebank(path: str) -> str:
    rows = [r for r in _rows(path) if r.get("kind") == "case"]
    by = lambda c: [r for r in rows if r["case"] == c]
    out = ["| K styles | render_all s | K × stylize s | ratio | max abs diff |", "|---|---|---|---|---|"]
    for r in by("render_all"):
        out.append(f"| {r['k']} | {_fmt(r['render_all_s'], 3)} | {_fmt(r['independent_s'], 3)} | "
                   f"{_fmt(r['ratio_independent_over_render_all'])} | {r['max_abs_diff']:.1e} |")
    out += ["", "| size | batch | s/call | images/s | Mpx/s | GFLOP/s | % of roof |", "|---|---|---|---|---|---|---|"]
    for r in by("throughput"):
        out.append(f"| {r['size']} | {r['batch']} | {_fmt(r['s_per_call'], 3)} | {_fmt(r['img_s'])} | "
                   f"{_fmt(r['mpix_s'])} | {_fmt(r['gflops'], 0)} | {_fmt(100 * r['frac_of_roof'], 0)}% |")
    for r in by("bytes"):
        out += ["", f"One bank: {r['bank_bytes']:,} B ({_fmt(r['bank_mib'], 3)} MiB; kernel {r['bank_kernel_bytes']:,} B "
                f"= the paper's 3x3x128x128 fp32); auto-encoder {r['autoencoder_bytes']:,} B; whole model with "
                f"{r['n_styles']} styles {r['model_bytes']:,} B; one bank = {_fmt(100 * r['ratio_bank_over_model'], 1)}% "
                f"of the model."]
    train = by("train_step")
    if train:
        out += ["", "| method | crop | step | JAX s | JAX img/s | JAX % of roof | PyTorch s | PyTorch img/s | "
                "JAX/PyTorch speed | loss rel. diff |", "|---|---|---|---|---|---|---|---|---|---|"]

    def pct(x):
        return "–" if x is None else f"{100 * x:.0f}%"

    for r in train:
        method, crop = r.get("method", "stylebank"), r["crop"]
        err = "–" if r.get("loss_rel_err") is None else f"{r['loss_rel_err']:.1e}"
        torch_cells = f"{_fmt(r.get('torch_s'))} | {_fmt(r.get('torch_img_s'))} | {_fmt(r.get('speedup_jax_over_torch'))} | {err}"
        if method == "stylebank":
            out += [f"| stylebank | {crop} | stylizing (E, K, D + VGG loss, Adam) | {_fmt(r['jax_phase0_s'])} | "
                    f"{_fmt(r['jax_phase0_img_s'])} | {pct(r.get('frac_of_roof'))} | {torch_cells} |",
                    f"| stylebank | {crop} | auto-encoder (identity) | {_fmt(r['jax_phase1_s'])} | "
                    f"{_fmt(r['jax_phase1_img_s'])} | {pct(r.get('frac_of_roof_phase1'))} | – | – | – | – |",
                    f"| stylebank | {crop} | T+1 schedule mean | {_fmt(r['jax_schedule_s'])} | "
                    f"{_fmt(r['jax_schedule_img_s'])} | {pct(r.get('frac_of_roof_schedule'))} | – | – | – | – |"]
        else:
            out.append(f"| {method} | {crop} | net + VGG loss, Adam | {_fmt(r['jax_s'])} | {_fmt(r['jax_img_s'])} | "
                       f"{pct(r.get('frac_of_roof'))} | {torch_cells} |")
    mem = by("memory")
    if mem:
        out += ["", "| case | compute peak MiB (VmHWM, reset before) | process peak MiB (ru_maxrss) | run s |", "|---|---|---|---|"]
        for r in mem:
            name = f"{r['size']} px single" if r["mode"] == "single" else f"{r['size']} px in {r.get('tiles')} tiles of {r['tile'][0]}"
            out.append(f"| {name} | {_fmt(r.get('compute_peak_mib'), 0)} | {_fmt(r.get('peak_mib'), 0)} | {_fmt(r.get('run_s'), 1)} |")
    return "\n".join(out)


def stylebank_quality(path: str) -> str:
    rows = _rows(path)
    ident = [r for r in rows if r.get("case") == "identify"]
    out = []
    if ident:
        names = list(ident[0]["distance"])
        out += ["Mean style distance of StyleBank's output in style *row* to painting *column* over the held-out "
                "images (nearest per row in bold); last column: held-out images whose output is nearest to its own painting.", "",
                "| output style | " + " | ".join(names) + " | own nearest |", "|---" * (len(names) + 2) + "|"]
        for n in names:
            rs = [r for r in ident if r["style"] == n]
            mean = {p: sum(r["distance"][p] for r in rs) / len(rs) for p in names}
            best = min(mean, key=mean.get)
            cells = [f"**{mean[p]:.4g}**" if p == best else f"{mean[p]:.4g}" for p in names]
            own = sum(r["nearest"] == n for r in rs)
            out.append(f"| {n} | " + " | ".join(cells) + f" | {own}/{len(rs)} |")
    qual = [r for r in rows if r.get("case") == "quality"]
    if qual:
        out += ["", "| style | StyleBank content | Gatys content | StyleBank style | Gatys style | StyleBank s/img | Gatys s/img |",
                "|---|---|---|---|---|---|---|"]
        for r in qual:
            a, b = r["stylebank"], r["gatys"]
            out.append(f"| {r['style']} | {a['content']:.4g} | {b['content']:.4g} | {a['style']:.4g} | {b['style']:.4g} | "
                       f"{a['seconds_per_image']:.3g} | {b['seconds_per_image']:.3g} |")
    for r in rows:
        if r.get("case") == "add_style":
            out += ["", f"add-style ({r['style']}): joint bank's held-out style loss {r.get('joint_style', r.get('joint_bank_style')):.4g}; a new bank "
                    f"on the frozen auto-encoder reached <= 1.1x that in {r['steps_to_within_10pct']} steps, "
                    f"{_fmt(r['seconds_to_within_10pct'], 1)} s of training (batch {r['batch_size']}, {r['crop']} px crops)."
                    if r["steps_to_within_10pct"] else
                    f"add-style ({r['style']}): not within 10% of the joint bank ({r.get('joint_style', r.get('joint_bank_style')):.4g}) in "
                    f"{r['curve_step_seconds_style'][-1][0]} steps; last {r['curve_step_seconds_style'][-1][2]:.4g}."]
    return "\n".join(out)


def patchmatch(path: str) -> str:
    rows = [r for r in _rows(path) if r.get("kind") == "case"]
    iters = sorted({b["iters"] for r in rows for b in r["by_iters"]})
    out = ["| S | C | features | " + " | ".join(f"sim ratio @{i}" for i in iters)
           + " | exact @10 | PatchMatch s (10 it) | exact_nnf s | exact / PatchMatch time | others' cores |",
           "|---|---|---|" + "---|" * (len(iters) + 5)]
    for r in rows:
        at = {b["iters"]: b for b in r["by_iters"]}
        ratios = " | ".join(_fmt(at[i]["sim_ratio"], 3) if i in at else "–" for i in iters)
        others = max(r["pm_others_cores"] or 0, r["exact_others_cores"] or 0)
        out.append(f"| {r['size']} | {r['channels']} | {r['features']} | {ratios} | {_fmt(r['frac_exact'])} | "
                   f"{r['pm_s']:.3g} | {r['exact_s']:.3g} | {r['exact_over_pm']:.3g} | {_fmt(others)} |")
    return "\n".join(out)


def conv_loop(path: str) -> str:
    rows = _rows(path)
    out = ["| VGG piece | conv | standalone s | in a fori_loop, s/step | loop slowdown |", "|---|---|---|---|---|"]
    for r in rows:
        if "conv" in r:
            out.append(f"| {r['case']} ({r['size']} px input) | {r['conv']} | {r['standalone_s']:.3g} | "
                       f"{r['in_loop_s_per_step']:.3g} | {r['loop_slowdown']:.2f}x |")
    diffs = [f"{r['case']}: {r['max_abs_diff']:.2g} (max |grad| {r['max_abs_grad']:.2g})" for r in rows if "max_abs_diff" in r]
    return "\n".join(out + ["", "Gradient max abs difference, conv3x3 vs autodiff: " + "; ".join(diffs) + "."])


def video(path: str) -> str:
    rows = [r for r in _rows(path) if r.get("kind") == "case"]
    out = []
    stab = [r for r in rows if r["case"] == "stability"]
    if stab:
        r0 = stab[0]
        out += [f"Warp error ×1e3 on held-out synthetic clips ({r0['clips']} clips × {r0['frames']} frames, "
                f"{r0['size']} px, exact flow; Net1 trained with *{r0['trained_with']}*, its own flow net):", "",
                "| style | inputs | per-frame | Net1 | Net1 / per-frame | drift (8-bit) | Net1 feature comp. / per-frame | its drift |",
                "|---|---|---|---|---|---|---|---|"]
        for r in stab:
            tag = " (trained)" if r["style"] == r["trained_with"] else ""
            feat = (f"{r['ratio_feature']:.3f} | {255 * r['drift_feature']:.1f}" if "ratio_feature" in r else "– | –")
            out.append(f"| {r['style']}{tag} | {1e3 * r['input']:.3f} | {1e3 * r['per_frame']:.3f} | "
                       f"{1e3 * r['net1']:.3f} | {r['ratio']:.3f} | {255 * r['drift']:.1f} | {feat} |")
        out.append("")
    still = [r for r in rows if r["case"] == "still"]
    if still:
        out += ["Still scene (six identical frames per held-out photo): largest |O_t − O_1| in 8-bit levels:", "",
                "| composition | " + " | ".join(r["style"] for r in still if r["composition"] == still[0]["composition"]) + " |",
                "|---|" + "---|" * sum(r["composition"] == still[0]["composition"] for r in still)]
        for comp in dict.fromkeys(r["composition"] for r in still):
            out.append(f"| {comp} | " + " | ".join(f"{r['max_change_255']:.3g}" for r in still if r["composition"] == comp) + " |")
        out.append("")
    motion = [r for r in rows if r["case"] == "motion"]
    if motion:
        out += ["Motion kinds, held-out (one clip per held-out photo): warp error / per-frame's, drift in 8-bit levels:", "",
                "| motion | style | mean flow px | per-frame ×1e3 | Net1 | drift | Net1 exact flow | drift | feature comp. | feature, exact flow |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for r in motion:
            out.append(f"| {r['motion']} | {r['style']} | {r['flow_px']:.2f} | {1e3 * r['per_frame']:.3f} | "
                       f"{r['ratio_net1']:.3f} | {255 * r['drift_net1']:.1f} | {r['ratio_net1_exact_flow']:.3f} | "
                       f"{255 * r['drift_net1_exact_flow']:.1f} | {r['ratio_net1_feature']:.3f} | {r['ratio_net1_feature_exact_flow']:.3f} |")
        out.append("")
    fac = [r for r in rows if r["case"] == "factors"]
    if fac:
        out += [f"Factors (style *{fac[0]['style']}*, {fac[0]['clips']} clips × {fac[0]['frames']} frames; "
                "warp error / per-frame's over all transitions and over the first two):", "",
                "| backgrounds | composition | flow | mask | ratio | ratio, first 2 | drift (8-bit) |", "|---|---|---|---|---|---|---|"]
        for r in fac:
            out.append(f"| {r['backgrounds']} | {r['composition']} | {r['flow']} | {r['mask']} | {r['ratio']:.3f} | "
                       f"{r['ratio_first2']:.3f} | {255 * r['drift']:.1f} |")
        out.append("")
    comp = [r for r in rows if r["case"] == "compare"]
    if comp:
        c0 = comp[0]
        out += [f"Side by side on short clips ({c0['frames']} frames, {c0['size']} px, style *{c0['style']}*; Ruder: "
                f"{c0['ruder_steps'][0]}/{c0['ruder_steps'][1]} L-BFGS steps on the first/later frames, exact flow); "
                "warp error ×1e3 and seconds per frame (after compilation):", "",
                "| motion | inputs | per-frame | Net1 | Ruder | Net1 / per-frame | Ruder / per-frame | s/frame per-frame | Net1 | Ruder |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for r in comp:
            s = r["seconds_per_frame"]
            out.append(f"| {r['motion']} | {1e3 * r['input']:.3f} | {1e3 * r['per_frame']:.3f} | {1e3 * r['net1']:.3f} | "
                       f"{1e3 * r['ruder']:.1e} | {r['ratio_net1']:.3f} | {r['ratio_ruder']:.1e} | {s['per_frame']:.4f} | "
                       f"{s['net1']:.4f} | {s['ruder']:.2f} |")
        out.append("")
    pert = [r for r in rows if r["case"] == "perturb"]
    if pert:
        out += ["Fig. 1 perturbation test: mean output change (8-bit levels) for an input change of "
                + ", ".join(f"{r['input_change_255']:.3g} ({r['perturbation']})" for r in pert[:2]) + ":", "",
                "| style | perturbation | per-frame | Net1 | Net1 / per-frame |", "|---|---|---|---|---|"]
        for r in pert:
            out.append(f"| {r['style']} | {r['perturbation']} | {r['per_frame_255']:.3f} | {r['net1_255']:.3f} | {r['ratio']:.3f} |")
        out.append("")
    real = [r for r in rows if r["case"] == "real"]
    if real:
        out += ["Real sequences, warp error ×1e3 with our flow net's flow (traceable = forward-backward consistent):", "",
                "| sequence | style | traceable | inputs | per-frame | Net1 | Net1 / per-frame |", "|---|---|---|---|---|---|---|"]
        for r in real:
            out.append(f"| {r['sequence']} ({r['frames']} × {r['size']}) | {r['style']} | {r['traceable']:.2f} | "
                       f"{1e3 * r['input']:.3f} | {1e3 * r['per_frame']:.3f} | {1e3 * r['net1']:.3f} | {r['ratio']:.3f} |")
        out.append("")
    fps = [r for r in rows if r["case"] == "fps"]
    if fps:
        out += ["| frame size | mode | fps (model only) | others' cores |", "|---|---|---|---|"]
        for r in fps:
            out.append(f"| {r['size']}² | {r['mode']} | {r['fps']:.2f} | {_fmt(r['others_cores'])} |")
        out.append("")
    mem = [r for r in rows if r["case"] == "memory"]
    if mem:
        out += ["| `styljax video`, 256² MP4 | frames | wall s | peak RSS MiB | summary |", "|---|---|---|---|---|"]
        for r in mem:
            out.append(f"| {r['mode']} | {r['frames']} | {r['wall_s']:.1f} | {_fmt(r['peak_rss_mib'], 0)} | {r['summary']} |")
    return "\n".join(out)


def baselines(path: str) -> str:
    """Per-style losses (methods side by side), then one summary row per method."""
    rows = [r for r in _rows(path) if r.get("case")]
    methods = ("stylebank", "cin", "johnson", "gatys")
    q = {(r["method"], r["style"]): r for r in rows if r["case"] == "quality"}
    styles = sorted({s for _, s in q})
    head = " | ".join(f"{m} content | {m} style" for m in methods)
    out = [f"| style | {head} |", "|---|" + "---|" * (2 * len(methods))]
    for s in styles:
        cells = []
        for m in methods:
            r = q.get((m, s))
            cells += [_fmt(r and r["content"], 1), _fmt(r and r["style_loss"], 1)]
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    by = lambda case: {r["method"]: r for r in rows if r["case"] == case}
    size, speed, add = by("bytes"), by("speed"), by("add_style")
    out += ["", "| method | bytes per added style | wall time to add a style | images/s at 512² | Gram identification |",
            "|---|---|---|---|---|"]
    for m in methods:
        own = [r for (mm, _), r in q.items() if mm == m]
        ident = f"{sum(r['own_nearest'] for r in own)}/{sum(r['images'] for r in own)}" if own else "–"
        a = add.get(m, {})
        if not a:
            t = "–"
        elif m == "johnson":
            t = f"{_fmt(a.get('seconds_full_training'), 0)} s (a new net, {a.get('steps')} steps)"
        elif m == "gatys":
            t = "0 s (no training)"
        else:
            t = (f"{_fmt(a.get('seconds_to_within_10pct'), 0)} s ({a.get('steps_to_within_10pct')} steps)"
                 if a.get("seconds_to_within_10pct") else f"not within 10% in {a.get('curve_step_seconds_style', [[None]])[-1][0]} steps")
        sp = speed.get(m, {})
        img_s = _fmt(sp.get("img_per_s"), 3 if m == "gatys" else 2)
        if m == "gatys" and sp:
            img_s += f" ({sp['steps']} L-BFGS steps × {_fmt(sp['s_per_step'])} s)"
        out.append(f"| {m} | {size.get(m, {}).get('bytes_per_style', '–'):,} | {t} | {img_s} | {ident} |")
    return "\n".join(out)


def serve_load(path: str) -> str:
    """One row per load-test case: answers by status, throughput, client latency, server batches and memory."""
    out = ["| case | server flags | clients | sent | answers | req/s | p50 ms | p99 ms | server batch sizes | RSS MiB first / last / max |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in _rows(path):
        if not r.get("case"):
            continue
        answers = ", ".join(f"{n}× {k}" for k, n in sorted(r["status"].items()))
        batches = ", ".join(f"{k}: {n}" for k, n in sorted(r["server_batch_sizes"].items(), key=lambda kv: int(kv[0])))
        m = r["server_rss_mib"]
        flags = r["flags"].split(" --max-side")[0]
        out.append(f"| {r['case']} | `{flags}` | {r['concurrency']} | {r['sent']} | {answers} | "
                   f"{_fmt(r['throughput_rps'], 2)} | {_fmt(r['latency_ms']['p50'], 0)} | {_fmt(r['latency_ms']['p99'], 0)} | "
                   f"{batches} | {_fmt(m['first'], 0)} / {_fmt(m['last'], 0)} / {_fmt(m['max'], 0)} |")
    return "\n".join(out)


def quality(path: str) -> str:
    """The side-by-side table `bench.quality` wrote as its last line (built from its summary lines)."""
    tables = [r for r in _rows(path) if r.get("kind") == "table"]
    if not tables:
        raise SystemExit(f"{path}: no `kind: table` line (an interrupted bench.quality run?)")
    return tables[-1]["markdown"]


def strength(path: str) -> str:
    """Structure kept (edge-map correlation with the photo, mean and min) and mean |O − I| per model,
    mode and strength (`bench.strength`)."""
    from bench.strength import summary

    out = ["| model | mode | s = 0 | 0.25 | 0.5 | 0.75 | 1 | mean \\|O − I\\| at s = 0 / 0.5 |",
           "|---|---|---|---|---|---|---|---|"]
    rows = summary(_rows(path))
    for model, mode in dict.fromkeys((r["model"], r["mode"]) for r in rows):
        cells = {r["strength"]: r for r in rows if r["model"] == model and r["mode"] == mode}
        corr = " | ".join(f"{cells[s]['structure']:.2f} ({cells[s]['structure_min']:.2f})" for s in sorted(cells))
        out.append(f"| {model} (n={cells[0.0]['n']}) | {mode} | {corr} | "
                   f"{_fmt(cells[0.0]['l1_photo'], 3)} / {_fmt(cells[0.5]['l1_photo'], 3)} |")
    return "\n".join(out)


def profile_step(path: str) -> str:
    """ms per step per bucket of ops, one column per (label or method, crop) run in the file."""
    rows = _rows(path)
    runs = list(dict.fromkeys((r.get("label", r["method"]), r["crop"]) for r in rows))
    buckets = list(dict.fromkeys(r["bucket"] for r in rows if r["kind"] == "bucket"))
    cell = {(r.get("label", r["method"]), r["crop"], r["bucket"]): r["ms"] for r in rows if r["kind"] == "bucket"}
    tot = {(r.get("label", r["method"]), r["crop"]): r for r in rows if r["kind"] == "total"}
    out = ["| ops | " + " | ".join(f"{m} {c} px ms" for m, c in runs) + " |", "|---|" + "---|" * len(runs)]
    for b in buckets:
        out.append(f"| {b} | " + " | ".join(_fmt(cell.get((m, c, b)), 1) for m, c in runs) + " |")
    out.append("| **sum of op times** | " + " | ".join(_fmt(tot[k]["ops_ms"], 0) for k in runs) + " |")
    out.append("| step wall time | " + " | ".join(_fmt(tot[k]["wall_ms"], 0) for k in runs) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    kinds = {"vgg": vgg, "gatys": gatys, "stylebank": stylebank, "stylebank_quality": stylebank_quality,
             "patchmatch": patchmatch, "conv_loop": conv_loop, "video": video, "baselines": baselines, "serve_load": serve_load,
             "quality": quality, "strength": strength,
             "profile_step": profile_step}
    print(kinds[kind](path))
