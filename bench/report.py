"""Markdown tables from benchmark JSON lines: `python -m bench.report vgg FILE.jsonl` (or gatys).

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


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    print({"vgg": vgg, "gatys": gatys}[kind](path))
