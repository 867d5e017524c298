"""Region fusion against one style: the first render of a process, cold and warm compile cache.

    python -m bench.regions [--model DIR] [--photo PNG] [--size 256] [--repeats 5] > bench/results/regions.jsonl

Each repeat, for each mode (`single`: one style, as `styljax stylize --style NAME`; `regions`:
two styles on K-means regions, as `--style a,b --regions 2`), runs two fresh processes on one
new compilation-cache directory: `cold` (empty cache: tracing and compiling included) and `warm`
(the same command again: every program a cache hit). Each child loads the model, then times its
first render (`first_s`) and the mean of three more (`steady_s`), through the renderer the CLI
uses (`infer.stylebank.StyleBankRenderer`). One JSON line per (repeat, mode, cache).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import emit, log, machine_info

REPO = Path(__file__).resolve().parent.parent
STYLES = ("wave", "the-scream")


def child(args) -> None:
    from styljax.runtime import compile_cache

    compile_cache.enable(args.cache)
    import jax
    import numpy as np

    from styljax.io import image
    from styljax.renderers.stylebank_renderer import StyleBankRenderer
    from styljax.render import StyleSpec

    model = StyleBankRenderer(Path(args.model))
    x = jax.numpy.asarray(image.load_image(args.photo, max_side=args.size)[None])
    if args.child == "single":
        spec = StyleSpec(names=(STYLES[0],))

        def render():
            return np.asarray(model.render(x, spec)[STYLES[0]])
    else:
        def render():
            return np.asarray(model.render_regions(x, STYLES, None, len(STYLES)))

    t0 = time.perf_counter()
    render()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(3):
        render()
    print(json.dumps({"first_s": first, "steady_s": (time.perf_counter() - t0) / 3, "hw": list(x.shape[1:3])}))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(REPO / "checkpoints" / "stylebank"))
    p.add_argument("--photo", default=str(REPO.parent / "shared" / "data" / "content" / "kodak" / "kodim23.png"))
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--child", choices=("single", "regions"), help=argparse.SUPPRESS)
    p.add_argument("--cache", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    emit({"kind": "header", **machine_info()})
    for rep in range(args.repeats):
        for mode in ("single", "regions"):
            with tempfile.TemporaryDirectory() as cache:
                for state in ("cold", "warm"):
                    cmd = [sys.executable, "-m", "bench.regions", "--child", mode, "--cache", cache,
                           "--model", args.model, "--photo", args.photo, "--size", str(args.size)]
                    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=True)
                    rec = json.loads(done.stdout.strip().splitlines()[-1])
                    alarms = done.stderr.count("slow_operation_alarm")
                    emit({"kind": "case", "case": "regions", "repeat": rep, "mode": mode, "cache": state,
                          "size": args.size, "alarm_lines": alarms, **rec})
                    log(f"{rep} {mode} {state}: first {rec['first_s']:.3f} s, steady {rec['steady_s']:.3f} s")


if __name__ == "__main__":
    main()
