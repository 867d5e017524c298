"""Where a training step's time goes, per kind of op (issue #18).

    python -m bench.profile_step [--method stylebank|cin|johnson] [--crop 128] [--batch 4] > bench/results/profile_step.jsonl
    python -m bench.report profile_step bench/results/profile_step.jsonl

Runs the method's training step (StyleBank: the stylizing phase) under `jax.profiler.trace`,
with XLA's optimised HLO dumped beside it, and joins each executed op's time with the `op_name`
metadata XLA keeps from the JAX program. Each op is put in one bucket by that name (`BUCKETS`,
first match wins): VGG forward, VGG input gradient (its max-pool and ReLU backward apart), the
net's forward and backward (instance norm and reflection padding apart), the per-image banks,
Gram matrices, the optimizer, the rest. One JSON line per bucket (ms per step, share), then a
`kind: total` line. Op times are summed from the trace (the two cores' ops can overlap), so the
total is close to, not equal to, the step's wall time.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time
from styljax import training
import functools
from styljax.train import configs

BUCKETS = (  # (bucket, regex on the op_name), first match wins
    ("vgg: max-pool backward", r"transpose\(jvp\(VGG\)\).*(cumsum|select_and_scatter|max_pool|reduce_max|and|not|or)"),
    ("vgg: relu backward", r"transpose\(jvp\(VGG\)\).*(select_n|relu)"),
    ("vgg: input gradient (convs)", r"transpose\(jvp\(VGG\)\)"),
    ("vgg: forward", r"jvp\(VGG\)|/VGG/"),
    ("gram matrices", r"bnc,bnd|bnc,bcd|gram"),
    ("banks (per image)", r"bhwk,bkd|_conv_per_image|apply_banks_per_image|Bank"),
    ("net: instance norm", r"(Encoder|Decoder|TransformNet).*(norm|instance_norm|conditional_instance_norm)"),
    ("net: reflection padding", r"(Encoder|Decoder|TransformNet).*(gather|scatter|reflect|_pad|/pad)"),
    ("net: backward (convs)", r"transpose\(jvp\(.*(Encoder|Decoder|TransformNet|stylize_with|encode|decode)"),
    ("net: forward", r"Encoder|Decoder|TransformNet|stylize_with|encode|decode"),
    ("optimizer (adam)", r"adam|scale_by|optax|apply_updates|sqrt|tree_norm"),
)


def bucket_of(op_name: str) -> str:
    for name, pattern in BUCKETS:
        if re.search(pattern, op_name):
            return name
    return "other (losses, where-guard, copies)"


def op_metadata(dump_dir: str) -> dict[str, str]:
    """HLO instruction name → its op_name, from the dumped optimised train-step module."""
    files = sorted(glob.glob(os.path.join(dump_dir, "*train_step*cpu_after_optimizations.txt")), key=os.path.getsize)
    if not files:
        raise SystemExit(f"no optimised train_step HLO dumped in {dump_dir}")
    meta = {}
    for line in open(files[-1]):
        m = re.match(r'\s*(?:ROOT )?%?([\w.\-]+) = .*?op_name="([^"]+)"', line)
        if m:
            meta[m.group(1)] = m.group(2)
    return meta


def op_times(trace_dir: str, reps: int) -> collections.Counter:
    """Op name → microseconds per step, from the perfetto trace."""
    path = glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True)[0]
    total: collections.Counter = collections.Counter()
    for e in json.load(gzip.open(path))["traceEvents"]:
        if e.get("ph") == "X" and "dur" in e:
            total[e["name"]] += e["dur"] / reps
    return total


def build_step(method: str, crop: int, batch: int):
    """(jitted step, its args) for the method's training step on random data and styles."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from styljax.io import weights

    vgg = weights.load_default()
    rng = np.random.default_rng(0)
    if method == "stylebank":
        from styljax.tasks.stylebank import StyleBankLoss, StyleBankTask, StyleBankTrainConfig

        styles = {f"s{i}": rng.random((64, 64, 3), dtype=np.float32) for i in range(6)}
        task = StyleBankTask(StyleBankTrainConfig(loss=StyleBankLoss(style_size=min(256, crop))), vgg, styles)
    else:
        from styljax.tasks.transform import TransformTask

        exp = configs.get_config("kodak", method)
        styles = {f"s{i}": rng.random((64, 64, 3), dtype=np.float32) for i in range(6 if method == "cin" else 1)}
        task = TransformTask(exp.train, vgg, styles, method=method)
    images = jnp.asarray(rng.random((batch, crop, crop, 3), dtype=np.float32))
    step = jax.jit(functools.partial(training.train_step, task), static_argnames="phase")
    return step, (training.init_state(task, jax.random.key(0)), {"image": images}, task.constants())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default="stylebank", choices=("stylebank", "cin", "johnson"))
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--label", default=None, help="the column name in the report (e.g. before, after)")
    args = ap.parse_args(argv)

    dump = tempfile.mkdtemp(prefix="styljax_hlo_")
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={dump} --xla_dump_hlo_as_text".strip()
    import jax

    step, (state, batch, consts) = build_step(args.method, args.crop, args.batch)
    for _ in range(2):
        jax.block_until_ready(step(state, batch, consts, phase=0))
    t0 = time.perf_counter()
    for _ in range(args.reps):
        jax.block_until_ready(step(state, batch, consts, phase=0))
    wall_ms = (time.perf_counter() - t0) / args.reps * 1e3
    trace = tempfile.mkdtemp(prefix="styljax_trace_")
    with jax.profiler.trace(trace, create_perfetto_trace=True):
        for _ in range(args.reps):
            jax.block_until_ready(step(state, batch, consts, phase=0))
    meta = op_metadata(dump)
    per_bucket: collections.Counter = collections.Counter()
    for op, us in op_times(trace, args.reps).items():
        if op in meta:
            per_bucket[bucket_of(meta[op])] += us / 1e3
    total = sum(per_bucket.values())
    case = {"label": args.label or args.method, "method": args.method, "crop": args.crop, "batch": args.batch}
    for name, ms in per_bucket.most_common():
        print(json.dumps({"kind": "bucket", **case, "bucket": name, "ms": round(ms, 2), "share": round(ms / total, 4)}))
    print(json.dumps({"kind": "total", **case, "ops_ms": round(total, 1), "wall_ms": round(wall_ms, 1)}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
