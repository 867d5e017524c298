"""Run by tests/test_parallel.py in a fresh process (the device count is fixed at jax import).

    python tests/dp_worker.py devices OUT.json        # 8 forced CPU devices: 1 vs 8 devices, resume on 2
    python tests/dp_worker.py host PID PORT OUT.json  # one of 2 processes (2 devices each), jax.distributed
    python tests/dp_worker.py single OUT.json         # the 2-process run's reference on one device

Every trainer's task (StyleBank, CIN, Johnson, video) runs a few steps of the shared loop on tiny
models with a random VGG; the losses it logs go to OUT.json.
"""

from __future__ import annotations

import json
import os
import sys

MODE = sys.argv[1]
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")  # the suite's, plus the CPU device count
                           + f" --xla_force_host_platform_device_count={8 if MODE == 'devices' else 2}")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

from styljax import training  # noqa: E402
from styljax.io import data
from styljax.nets import vgg
from styljax.runtime import parallel
from styljax.video import synthetic

BATCH = 8 if MODE == "devices" else 4


def _images(n, seed, size=40):
    rng = np.random.default_rng(seed)
    return [np.kron(rng.uniform(size=(5, 5, 3)).astype(np.float32), np.ones((size // 5, size // 5, 1), np.float32))
            for _ in range(n)]


def tasks() -> dict:
    """name → (task, batches): each trainer, tiny."""
    from styljax.nets import stylebank as sb
    from styljax.nets import transform as tr
    from styljax.nets import coherent as vn
    from styljax.losses.perceptual import PerceptualLoss
    from styljax.tasks.stylebank import StyleBankTask, StyleBankTrainConfig
    from styljax.tasks.transform import TransformTask, TransformTrainConfig
    from styljax.tasks.coherent import VideoTask, VideoTrainConfig

    w = vgg.random_weights(16, jax.random.key(0))
    loss = PerceptualLoss(content_layers=(("relu2_1", 1.0),), style_layers=(("relu1_1", 1.0), ("relu2_1", 1.0)),
                          style_size=32, style_weight=50.0)
    imgs = _images(2 * BATCH, seed=0)
    src = data.ImageSource(lambda i: imgs[i], len(imgs), short_side=24)
    crops = data.crop_batches(src, crop=16, batch_size=BATCH, seed=0)
    styles = dict(zip(["a", "b"], _images(2, seed=7, size=20)))
    sb_cfg = sb.StyleBankConfig(channels=(4, 8, 16), output="sigmoid")
    sb_params = sb.init(jax.random.key(3), sb_cfg, ["s"])
    clips = synthetic.clip_batches(data.ImageSource(lambda i: imgs[i], len(imgs), 48), 32, 2, BATCH, seed=0)
    video_cfg = VideoTrainConfig(net=vn.VideoNetConfig(flow_channels=(8, 8, 16, 16), mask_channels=(8, 8),
                                                       correlation=2), learning_rate=3e-3)
    return {
        "stylebank": (StyleBankTask(StyleBankTrainConfig(model=sb.StyleBankConfig(channels=(4, 8, 16)), loss=loss,
                                                         learning_rate=1e-2), w, styles), crops),
        "cin": (TransformTask(TransformTrainConfig(model=tr.TransformConfig.cin(channels=(4, 8, 8), residual_blocks=1),
                                                   loss=loss, learning_rate=1e-2), w, styles), crops),
        "johnson": (TransformTask(TransformTrainConfig(model=tr.TransformConfig.johnson(channels=(4, 8, 8),
                                                                                       residual_blocks=1),
                                                       loss=loss, learning_rate=1e-2), w, {"a": styles["a"]},
                                  method="johnson"), crops),
        "video": (VideoTask(video_cfg, sb_params, sb_cfg, sb_params["banks"]["s"], "s"), clips),
    }


def stylize_folder(root: str) -> dict:
    """`styljax stylize` over a folder of 6 photos with a tiny StyleBank: the batch is split over the
    local devices and, multi-host, each process renders its share of the files. Returns what this
    process wrote and the largest difference from rendering the photos directly on one device."""
    from pathlib import Path

    import jax.numpy as jnp

    from styljax.infer.cli import main as cli
    from styljax.io import image
    from styljax.nets import stylebank as sb
    from styljax.stores import stylebank_store
    from styljax.renderers.stylebank_renderer import StyleBankRenderer

    root = Path(root)
    model, photos, out = root / "model", root / "photos", root / "out"
    cfg = sb.StyleBankConfig(channels=(4, 8, 16), output="sigmoid")
    if parallel.is_main():
        stylebank_store.save_model(model, sb.init(jax.random.key(5), cfg, ["s"]), cfg)
        for i, img in enumerate(_images(6, seed=3, size=40)):
            image.save_image(photos / f"p{i}.png", img)
    if jax.process_count() > 1:  # the files exist before anyone reads them
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("files written")
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        assert cli(["stylize", "--method", "stylebank", "--model", str(model), "--style", "s", str(photos),
                    "--out", str(out), "--batch", "4", "--quiet"]) == 0
    wrote = int(re.search(r"wrote (\d+) image", log.getvalue()).group(1))
    mine = [f"{p.stem}_s.png" for p in parallel.process_share(image.list_images(photos))]
    r = StyleBankRenderer(model)
    diff = 0.0
    for name in mine:
        x = image.load_image(photos / name.replace("_s", ""))
        want = np.asarray(sb.stylize(r.params, jnp.asarray(x[None]), "s", r.cfg, clip=True)[0])
        diff = max(diff, float(np.abs(image.load_image(out / name) - want).max()))
    return {"share": mine, "wrote": wrote, "max_diff": diff}


def run(task, batches, steps, workdir, mesh) -> list[float]:
    losses = []
    training.train(task, batches, training.LoopConfig(steps=steps, log_every=1, checkpoint_every=2, progress=False),
                   workdir, mesh=mesh, on_log=lambda step, m: losses.append(m["loss"]))
    return losses


def main() -> None:
    out: dict = {}
    root = sys.argv[-1] + ".runs"
    if MODE == "devices":
        one, all8, two = (parallel.data_mesh(jax.devices()[:n]) for n in (1, 8, 2))
        for name, (task, batches) in tasks().items():
            t0 = time.perf_counter()
            out[name] = {"one": run(task, batches, 2, f"{root}/{name}-1", one),
                         "eight": run(task, batches, 2, f"{root}/{name}-8", all8), "s": time.perf_counter() - t0}
        # a checkpoint written on 8 devices resumes on 2 (and the 1-device run goes on alike)
        task, batches = tasks()["stylebank"]
        out["resume"] = {"one": run(task, batches, 3, f"{root}/stylebank-1", one),
                         "eight_then_two": run(task, batches, 3, f"{root}/stylebank-8", two)}
        out["stylize"] = stylize_folder(root + "/stylize")
    elif MODE == "single":
        task, batches = tasks()["johnson"]
        out["johnson"] = run(task, batches, 2, f"{root}/single", parallel.data_mesh(jax.devices()[:1]))
    else:
        pid, port = int(sys.argv[2]), int(sys.argv[3])
        parallel.initialize(argparse.Namespace(distributed=True, coordinator=f"127.0.0.1:{port}",
                                               num_processes=2, process_id=pid))
        task, batches = tasks()["johnson"]
        shared = os.path.join(os.path.dirname(sys.argv[-1]), "hosts.runs")  # one run dir for both processes
        out["johnson"] = run(task, batches, 2, shared, None)  # default mesh: all 4 devices
        out["stylize"] = stylize_folder(shared + "/stylize")
        out["local_devices"] = jax.local_device_count()
    out.update(devices=jax.device_count(), processes=jax.process_count())
    with open(sys.argv[-1], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
