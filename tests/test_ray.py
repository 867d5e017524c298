"""`styljax.runtime.ray` and `styljax stylize --engine ray` (issue #37): the map_batches callables in-process,
then the job on real local Ray clusters (two workers; two nodes; a worker killed mid-job). The core
never imports Ray. Tiny random models (`tiny_models`) and tiny synthetic photos."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from styljax import methods
from styljax.io import image
from styljax.infer import cli
from styljax.render import StyleSpec

ROOT = Path(__file__).resolve().parent.parent


def _imported(importtime_stderr: str) -> set[str]:
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in importtime_stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


@pytest.mark.parametrize("argv", [["--help"], ["stylize", "--help"]])
def test_core_and_help_never_import_ray(argv):
    code = "import styljax, styljax.infer.cli as c, sys; c.main(sys.argv[1:])"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "usage: styljax" in proc.stdout, proc.stderr[-2000:]
    assert "ray" not in _imported(proc.stderr)


def _photos(folder: Path, sizes, seed=0) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (h, w) in enumerate(sizes):
        paths.append(image.save_image(folder / f"p{k}.png", rng.random((h, w, 3), dtype=np.float32)))
    return paths


def test_stylizer_buckets_and_matches_the_renderer(tiny_models):
    from styljax.runtime.ray import Stylizer, output_column

    st = Stylizer("cin", "red", str(tiny_models["cin"]), max_batch=4)
    rng = np.random.default_rng(0)
    exact = [rng.integers(0, 256, (128, 128, 3), dtype=np.uint8) for _ in range(2)]
    odd = [rng.integers(0, 256, s + (3,), dtype=np.uint8) for s in ((100, 120), (90, 128), (60, 64))]
    out = st({"image": np.asarray(exact + odd + [np.zeros((5,), np.uint8)], dtype=object)})
    col = out[output_column("red")]
    assert list(out["error"][:5]) == [""] * 5 and "shape" in out["error"][5]
    assert [c.shape[:2] for c in col[:5]] == [(128, 128)] * 2 + [(100, 120), (90, 128), (60, 64)]
    # every size ≤ 128 pads into the 128² bucket and the batch to a power of two: one shape, one program
    assert st.shapes == {(4, 128, 128, 3), (1, 128, 128, 3)}
    # an image already at a bucket's size renders exactly as the renderer itself renders it
    r = methods.get("cin").open_renderer(tiny_models["cin"])
    want = np.asarray(r.render(np.stack(exact).astype(np.float32) / 255, StyleSpec(("red",)))["red"])
    assert np.abs(np.stack(col[:2]).astype(np.float32) / 255 - want).max() <= 1 / 255 + 1e-6
    assert not np.array_equal(col[0], exact[0])


def test_stylizer_every_style_one_column_each(tiny_models):
    from styljax.runtime.ray import Stylizer, output_column

    st = Stylizer("stylebank", "all", str(tiny_models["stylebank"]))
    x = np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    out = st({"image": x})
    cols = [out[output_column(t)] for t in ("blue", "green", "red")]
    assert all(c.shape == (2, 64, 64, 3) and c.dtype == np.uint8 for c in cols)
    assert not np.array_equal(cols[0], cols[2])


def test_stylize_files_writes_atomically_skips_done_and_reports_bad_photos(tiny_models, tmp_path):
    pytest.importorskip("pyarrow")
    from styljax.runtime.ray import StylizeFiles

    srcs = _photos(tmp_path / "in", [(64, 80), (48, 48)])
    bad = tmp_path / "in" / "bad.jpg"
    bad.write_bytes(b"not an image")
    dst = tmp_path / "out"
    job = StylizeFiles("cin", "red,green", str(dst), str(tiny_models["cin"]), max_side=64)
    rows = job({"src": np.asarray([str(p) for p in srcs + [bad]], dtype=object)})
    assert list(rows["written"]) == [1, 1, 0]
    assert rows["error"][0] == rows["error"][1] == "" and "not a readable image" in rows["error"][2]
    assert sorted(p.name for p in dst.iterdir()) == ["p0_fusion.png", "p1_fusion.png"]  # no temporary left
    assert image.load_image(dst / "p0_fusion.png").shape == (51, 64, 3)  # --size: longer side 64
    again = job({"src": np.asarray([str(p) for p in srcs], dtype=object)})
    assert list(again["written"]) == [0, 0] and list(again["error"]) == ["", ""]  # done: not redone


def _run(argv, capsys):
    rc = cli.main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def ray_two_workers():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, object_store_memory=100 * 2**20, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow  # ~80 s on 2 busy cores: Ray's start, two actors importing JAX and compiling, twice
def test_ray_job_two_workers_resumes_and_skips_bad_photos(tiny_models, tmp_path, capsys, ray_two_workers):
    _photos(tmp_path / "in", [(64, 64)] * 5 + [(40, 72)] * 3)
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG garbage")
    argv = ["stylize", "--engine", "ray", "--workers", "2", "--batch", "2", "--method", "cin",
            "--model", str(tiny_models["cin"]), "--quiet", "--style", "blue", str(tmp_path / "in"),
            "--out", str(tmp_path / "out")]
    rc, out, _ = _run(argv, capsys)
    assert rc == 0, out
    assert "8 of 9 input(s) stylized, 8 image(s) written" in out and "1 failed" in out
    assert "broken.png: " in out and "not a readable image" in out
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(f"p{k}_blue.png" for k in range(8))
    # a lost output (a crash before its write) is all a rerun redoes
    (tmp_path / "out" / "p3_blue.png").unlink()
    rc, out, _ = _run(argv, capsys)
    assert rc == 0 and "skipping 7 input(s) already done" in out and "1 of 2 input(s) stylized" in out
    assert len(list((tmp_path / "out").iterdir())) == 8


def test_ray_engine_errors_are_one_line(tiny_models, tmp_path, capsys):
    _photos(tmp_path / "in", [(32, 32)])
    rc, _, err = _run(["stylize", "--engine", "ray", "--method", "gatys", "--style", "x.png", str(tmp_path / "in"),
                       "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and "--engine ray: for --method" in err
    pytest.importorskip("ray")
    rc, _, err = _run(["stylize", "--engine", "ray", "--method", "cin", "--model", str(tiny_models["cin"]),
                       "--style", "nope", str(tmp_path / "in"), "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and "unknown styles" in err and err.count("\n") == 1
    rc, _, err = _run(["serve", "--engine", "ray", "--replicas", "0"], capsys)
    assert rc == 2 and "--replicas must be at least 1" in err


def _workers() -> list:
    """This test's model actors: descendants of this process (its Ray cluster's raylet started them),
    so a parallel test's cluster is never touched."""
    import psutil

    found = []
    for p in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if any("StylizeFiles" in part for part in p.cmdline()):
                found.append(p)
        except psutil.Error:
            pass
    return found


@pytest.mark.slow
def test_ray_job_survives_a_killed_worker(tiny_models, tmp_path, capsys, ray_two_workers):
    """SIGKILL a model actor once the first outputs are written: Ray restarts it and retries its
    batches; every output is written exactly once (atomic writes, existing outputs skipped) and
    none is half-written."""
    n = 48
    _photos(tmp_path / "in", [(64, 64), (96, 80), (128, 100), (40, 40)] * (n // 4))
    out_dir = tmp_path / "out"
    killed = []

    def killer():
        t0 = time.time()
        while time.time() - t0 < 300 and not killed:
            done = len(list(out_dir.glob("p*.png"))) if out_dir.is_dir() else 0
            procs = _workers() if done else []
            if procs:
                procs[0].kill()
                killed.append(done)
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    rc, out, _ = _run(["stylize", "--engine", "ray", "--workers", "2", "--batch", "1", "--method", "cin",
                       "--model", str(tiny_models["cin"]), "--quiet", "--style", "green", str(tmp_path / "in"),
                       "--out", str(out_dir)], capsys)
    thread.join(timeout=5)
    assert killed and killed[0] < n, f"the job ended before a worker was killed ({killed})"
    assert rc == 0 and f"{n} of {n} input(s) stylized" in out and "0 failed" in out, out
    names = sorted(p.name for p in out_dir.iterdir())  # hidden temporaries would show here too
    assert names == sorted(f"p{k}_green.png" for k in range(n))
    for name in names:
        assert image.load_image(out_dir / name).shape[2] == 3  # whole, readable files


@pytest.mark.slow
def test_ray_job_on_a_two_node_cluster(tiny_models, tmp_path, capsys):
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 80 * 2**20})
    cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20)
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        _photos(tmp_path / "in", [(48, 48)] * 8)
        rc, out, _ = _run(["stylize", "--engine", "ray", "--workers", "2", "--batch", "1", "--method", "stylebank",
                           "--model", str(tiny_models["stylebank"]), "--quiet", "--style", "red:0.5,blue:0.5",
                           str(tmp_path / "in"), "--out", str(tmp_path / "out")], capsys)
        assert rc == 0 and "8 of 8 input(s) stylized" in out and "on 2 node(s)" in out, out
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"p{k}_fusion.png" for k in range(8))
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.mark.slow
def test_serve_deployment_answers_the_service_requests(tiny_models):
    """`styljax serve --engine ray`: the service's app as 2 Ray Serve replicas, batching by
    @serve.batch, answering the service tests' requests (results, errors, admin rules) alike."""
    import concurrent.futures

    import httpx

    ray = pytest.importorskip("ray")
    serve = pytest.importorskip("ray.serve")
    from conftest import free_port
    from test_serve import SMALL_BUCKETS, TOKEN, decode, png, post

    from styljax.infer import ray_serve
    from styljax.infer.serving import ServeConfig

    cfg = ServeConfig(max_batch=4, max_wait_ms=5, max_upload_bytes=200_000, max_pixels=300 * 300, max_side=256,
                      buckets=SMALL_BUCKETS, admin_token=TOKEN)
    port = free_port()
    ray.init(num_cpus=2, object_store_memory=100 * 2**20, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(ray_serve.deployment(dict(tiny_models), cfg, replicas=2, warmup="none", num_cpus=0.5),
                  name="styljax", route_prefix="/")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=180) as client:
            assert client.get("/healthz").json()["status"] == "ok"
            photo = png(64, 64)  # a whole bucket: no padding, so exact up to 8-bit rounding
            r = post(client, "green", image=photo, model="cin")
            assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text
            m = methods.get("cin").open_renderer(tiny_models["cin"])
            want = np.asarray(m.render(decode(photo)[None], StyleSpec(("green",)))["green"][0])
            assert np.abs(decode(r.content) - want).max() <= 0.5 / 255 + 1e-6
            for kwargs, status, words in [({"style": "purple"}, 400, "unknown styles"),
                                          ({"style": "all"}, 400, "not served"),
                                          ({"style": "red", "image": b"not an image"}, 400, "not a readable image"),
                                          ({"style": "red", "image": b"x" * 300_000}, 413, "larger than")]:
                r = post(client, **kwargs)
                assert r.status_code == status and words in r.json()["error"], r.text
            no_token = client.delete("/v1/models/cin/styles/red")
            assert no_token.status_code == 401
            wrong = client.delete("/v1/models/cin/styles/red", headers={"Authorization": "Bearer " + "x" * 20})
            assert wrong.status_code == 401  # the admin token's rules, as `styljax serve`
            with concurrent.futures.ThreadPoolExecutor(6) as pool:  # concurrent requests, batched by Serve
                codes = list(pool.map(lambda k: post(client, "red", image=png(48, 40, seed=k)).status_code, range(6)))
            assert codes == [200] * 6
    finally:
        serve.shutdown()
        ray.shutdown()

