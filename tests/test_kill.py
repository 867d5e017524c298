"""kill -9 at a random moment (seeded) of every verb that writes: `train` (stylebank, cin, johnson,
texture-net, video tiny configs, with checkpoints), `add-style`, `styles import|rename|remove`,
`stylize` over a folder, `video`, `export` (StableHLO); then the same command again
(tests/killharness.py).

After each kill: no partial file under its final name, every model directory loads (or holds its
previous version), every finished checkpoint restores; the rerun completes and ends bit-identical
to an uninterrupted run (XLA:CPU is deterministic run to run; two uninterrupted runs are compared
first, so a difference is the kill's). `KILLS` per verb in the default suite, `SLOW_KILLS` in the
slow one. With $STYLJAX_KILL_TALLY set, each test appends its figures there as a JSON line.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil

import jax
import numpy as np
import pytest

from killharness import ForkServer, Tally, checkpoint_errors, model_error, partial_files

KILLS = 5
SLOW_KILLS = 50
EPISODE = 5  # kills before a run is let finish and compared (then a fresh output)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from styljax.io import image, store, weights
    from styljax.nets import vgg
    from styljax.nets import stylebank as sb
    from styljax.stores import stylebank_store

    root = tmp_path_factory.mktemp("kill")
    rng = np.random.default_rng(0)
    for i in range(6):
        image.save_image(root / "content" / f"photo{i}.png", np.kron(rng.uniform(size=(6, 8, 3)), np.ones((8, 8, 1))))
    for name in ("dots", "stripes"):
        image.save_image(root / "styles" / f"{name}.png", rng.uniform(size=(24, 24, 3)))
    image.save_image(root / "new.png", rng.uniform(size=(24, 24, 3)))
    for i in range(4):  # a short clip: a pan over a random texture
        tex = np.kron(rng.uniform(size=(8, 10, 3)), np.ones((8, 8, 1)))
        image.save_image(root / "frames" / f"f{i:02d}.png", np.roll(tex, 2 * i, axis=1)[:48, :64])
    weights.save_npz(vgg.random_weights(16, jax.random.key(0)), root / "vgg.npz")
    cfg = sb.StyleBankConfig(channels=(4, 8, 16), output="sigmoid")
    stylebank_store.save_model(root / "sb", sb.init(jax.random.key(0), cfg, ["red", "green", "blue"]), cfg,
                               {"method": "stylebank"})
    tree, meta = store.load_tree(root / "sb" / "banks" / "red.npz")
    store.save_tree(root / "fresh.npz", jax.tree.map(lambda a: a * 0.5, tree),
                    {**{k: v for k, v in meta.items() if k != "sha256"}, "style": "fresh"})
    server = ForkServer(root / "logs")
    yield {"root": root, "server": server, "refs": {}}
    server.close()


def _tally(t: Tally) -> None:
    path = os.environ.get("STYLJAX_KILL_TALLY")
    if path:
        with open(path, "a") as f:
            f.write(t.line() + "\n")


def _leaves(out) -> list[np.ndarray]:
    from styljax.stores import video_store
    from styljax.methods import store_for_model as open_store  # #32 renamed it

    manifest = json.loads((out / "manifest.json").read_text())
    if manifest["format"].startswith("styljax-video-net1"):
        params = video_store.load_net1(out)[0]
    else:
        params = open_store(out).load_model(out)[0]
    return [np.asarray(x) for x in jax.tree.leaves(params)]


def _same(a, b) -> bool:
    la, lb = _leaves(a), _leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


# ------------------------------------------------------------------------------- training verbs
def _train_argv(world, verb, out):
    r = world["root"]
    common = ["--quiet", "--workdir", f"{out}.run"]
    if verb == "train-stylebank":
        return ["train", "stylebank", "--config", "tiny", "--styles", r / "styles", "--content-dir", r / "content",
                "--out", out, "--weights", r / "vgg.npz", *common]
    if verb == "train-cin":
        return ["train", "cin", "--config", "tiny", "--styles", r / "styles", "--content-dir", r / "content",
                "--out", out, "--weights", r / "vgg.npz", *common]
    if verb in ("train-johnson", "train-texture-net"):  # one painting each
        return ["train", verb.removeprefix("train-"), "--config", "tiny", "--style", r / "styles" / "dots.png",
                "--content-dir", r / "content", "--out", out, "--weights", r / "vgg.npz", *common]
    if verb == "train-video":
        return ["train", "video", "--config", "video-tiny", "--model", r / "sb", "--style", "red",
                "--content-dir", r / "content", "--out", out, *common]
    if verb == "add-style":  # in place, as users run it: the model directory is the output
        return ["add-style", "--model", out, "--style", r / "new.png", "--name", "fresh", "--content-dir",
                r / "content", "--config", "tiny", "--weights", r / "vgg.npz", *common]
    raise ValueError(verb)


def _reference(world, verb):
    """Two uninterrupted runs: the result (they must agree: the run is deterministic) and the
    seconds of the second, compiled one (the kill moments are drawn below it)."""
    if verb in world["refs"]:
        return world["refs"][verb]
    server, root = world["server"], world["root"]
    outs = [root / f"{verb}-ref{i}" for i in range(2)]
    for out in outs:
        if verb == "add-style":
            shutil.copytree(root / "sb", out)
        run = server.run(_train_argv(world, verb, out))
        assert run.rc == 0, run.log
    assert _same(*outs), f"{verb}: two uninterrupted runs differ: not deterministic here"
    world["refs"][verb] = (outs[0], run.seconds)
    return world["refs"][verb]


def _kill_training(world, verb, kills, seed):
    server, root = world["server"], world["root"]
    ref, seconds = _reference(world, verb)
    rng = random.Random(seed)
    tally = Tally(verb)
    for ep in range((kills + EPISODE - 1) // EPISODE):
        out = root / f"{verb}-s{seed}-ep{ep}"
        if verb == "add-style":
            shutil.copytree(root / "sb", out)
        for _ in range(min(EPISODE, kills - ep * EPISODE)):
            run = server.run(_train_argv(world, verb, out), kill_after=rng.uniform(0, seconds))
            problems = partial_files(out) + partial_files(root / f"{out.name}.run")
            problems += checkpoint_errors(root / f"{out.name}.run" / "ckpt")
            if out.exists():  # a new model appears whole (or not at all); add-style's stays loadable
                problems += [e for e in [model_error(out)] if e]
            if not run.killed:
                problems += [] if run.rc == 0 or "exists already" in run.log else [f"rc {run.rc}: {run.log[-500:]}"]
            tally.record(run, problems)
        final = server.run(_train_argv(world, verb, out))
        # add-style's rerun after its model was saved refuses the (now present) style: done
        assert final.rc == 0 or (verb == "add-style" and "exists already" in final.log), final.log
        assert _same(out, ref), f"{verb}: resumed run ended with other params than an uninterrupted one"
    _tally(tally)
    assert not tally.problems, tally.problems
    return tally


TRAIN_VERBS = ["train-stylebank", "train-cin", "train-johnson", "train-texture-net", "train-video", "add-style"]
# Each training verb's 5 kills take 1.5-2.5 min on the 2 shared cores (two compiled reference runs,
# then 6 more): the default suite keeps one, StyleBank's; the others run with the slow tests.
DEFAULT_TRAIN = [v if v == "train-stylebank" else pytest.param(v, marks=pytest.mark.slow) for v in TRAIN_VERBS]


@pytest.mark.parametrize("verb", DEFAULT_TRAIN)
def test_kill_training(world, verb):
    t = _kill_training(world, verb, KILLS, seed=0)
    assert t.tried == KILLS


@pytest.mark.slow
@pytest.mark.parametrize("verb", TRAIN_VERBS)
def test_kill_training_slow(world, verb):
    t = _kill_training(world, verb, SLOW_KILLS, seed=1)
    assert t.tried == SLOW_KILLS


# ------------------------------------------------------------------------------- styles verbs
STYLE_OPS = {
    # op: (argv after --model M, styles after, the rerun's answer once it is done: None = exit 0)
    "import": (["{fresh}", "--name", "fresh"], {"red", "green", "blue", "fresh"}, None),
    "rename": (["red", "crimson"], {"crimson", "green", "blue"}, "no style 'red'"),
    "remove": (["red"], {"green", "blue"}, "no style 'red'"),
}


def _kill_styles(world, op, kills, seed):
    from styljax.stores import stylebank_store

    server, root = world["server"], world["root"]
    extra, after, done_msg = STYLE_OPS[op]
    before = {"red", "green", "blue"}

    def argv(m):
        return ["styles", op, "--model", m, *[a.format(fresh=root / "fresh.npz") for a in extra]]

    ref = root / f"styles-{op}-ref"
    shutil.copytree(root / "sb", ref)
    r = server.run(argv(ref))
    assert r.rc == 0, r.log
    assert set(stylebank_store.list_styles(ref)) == after
    rng = random.Random(seed)
    tally = Tally(f"styles {op}")
    for k in range(kills):
        m = root / f"styles-{op}-s{seed}-{k}"
        shutil.copytree(root / "sb", m)
        run = server.run(argv(m), kill_after=rng.uniform(0, 1.2 * r.seconds))
        problems = partial_files(m) + [e for e in [model_error(m)] if e]
        styles = set(stylebank_store.list_styles(m)) if not problems else set()
        # a rename killed between writing the new name and removing the old holds both (same params)
        allowed = [before, after] + ([before | {"crimson"}] if op == "rename" else [])
        if styles not in allowed:
            problems.append(f"{m}: styles {sorted(styles)}, neither before nor after")
        tally.record(run, problems)
        again = server.run(argv(m))
        assert again.rc == 0 or (done_msg and again.rc == 2 and done_msg in again.log), again.log
        assert set(stylebank_store.list_styles(m)) == after and _same(m, ref)
    _tally(tally)
    assert not tally.problems, tally.problems
    return tally


@pytest.mark.parametrize("op", sorted(STYLE_OPS))
def test_kill_styles(world, op):
    assert _kill_styles(world, op, KILLS, seed=0).tried == KILLS


@pytest.mark.slow
@pytest.mark.parametrize("op", sorted(STYLE_OPS))
def test_kill_styles_slow(world, op):
    assert _kill_styles(world, op, SLOW_KILLS, seed=1).tried == SLOW_KILLS


# ------------------------------------------------------------------------------- outputs
def _output_argv(world, verb, out):
    r = world["root"]
    if verb == "stylize":
        return ["stylize", "--method", "stylebank", "--model", r / "sb", "--style", "red", r / "content",
                "--out", out, "--quiet", "--batch", "1"]
    ref_net1, _ = _reference(world, "train-video")
    return ["video", r / "frames", "--model", r / "sb", "--net1", ref_net1, "--style", "red",
            "--out", out / "clip.gif", "--quiet"]


def _images(out) -> dict:
    from PIL import Image, ImageSequence

    got = {}
    for p in sorted(out.glob("*")):
        if p.is_file() and not p.name.startswith("."):
            with Image.open(p) as im:
                got[p.name] = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]
    return got


def _kill_outputs(world, verb, kills, seed):
    server, root = world["server"], world["root"]
    refs = [root / f"{verb}-ref{i}" for i in range(2)]
    for ref in refs:
        r = server.run(_output_argv(world, verb, ref))
        assert r.rc == 0, r.log
    want = _images(refs[0])
    assert want and all(want[k][0].shape == v[0].shape and len(want[k]) == len(v) for k, v in _images(refs[1]).items())
    rng = random.Random(seed)
    tally = Tally(verb)
    for ep in range((kills + EPISODE - 1) // EPISODE):
        out = root / f"{verb}-s{seed}-ep{ep}"
        for _ in range(min(EPISODE, kills - ep * EPISODE)):
            run = server.run(_output_argv(world, verb, out), kill_after=rng.uniform(0, r.seconds))
            problems = partial_files(out)
            if not run.killed and run.rc != 0:
                problems.append(f"rc {run.rc}: {run.log[-500:]}")
            tally.record(run, problems)
        final = server.run(_output_argv(world, verb, out))
        assert final.rc == 0, final.log
        got = _images(out)
        assert sorted(got) == sorted(want)
        for k in want:
            assert all(np.array_equal(a, b) for a, b in zip(got[k], want[k])), k
    _tally(tally)
    assert not tally.problems, tally.problems
    return tally


@pytest.mark.parametrize("verb", ["stylize", pytest.param("video", marks=pytest.mark.slow)])  # video needs a trained Net1
def test_kill_outputs(world, verb):
    assert _kill_outputs(world, verb, KILLS, seed=0).tried == KILLS


@pytest.mark.slow
@pytest.mark.parametrize("verb", ["stylize", "video"])
def test_kill_outputs_slow(world, verb):
    assert _kill_outputs(world, verb, SLOW_KILLS, seed=1).tried == SLOW_KILLS


# ------------------------------------------------------------------------------- export
EXPORT_FILE = "red.shlo"
# The one sidecar field that differs between two uninterrupted exports: the clock. The artefact's
# bytes do not (jax.export serializes the same lowering to the same bytes), nor do the other fields.
EXPORT_CLOCK = ("exported_at",)


def _export_argv(world, out):
    r = world["root"]
    return ["export", "--method", "stylebank", "--model", r / "sb", "--style", "red", "--format", "stablehlo",
            "--out", out / EXPORT_FILE, "--platforms", "cpu"]


def _export_state(out):
    """(artefact bytes or None, sidecar or None, problems): under their final names the artefact
    deserializes, the sidecar parses, and they come as a pair whose checksum and size match."""
    from jax import export

    art, side = out / EXPORT_FILE, out / f"{EXPORT_FILE}.json"
    data = meta = None
    problems = []
    if art.exists():
        data = art.read_bytes()
        try:
            export.deserialize(bytearray(data))
        except Exception as e:  # noqa: BLE001 - any failure is the finding
            problems.append(f"{art}: does not deserialize: {type(e).__name__}: {str(e)[:200]}")
    if side.exists():
        try:
            meta = json.loads(side.read_text())
        except ValueError as e:
            problems.append(f"{side}: {type(e).__name__}: {str(e)[:200]}")
    if meta is not None and data is None:
        problems.append(f"{side}: describes {EXPORT_FILE}, which is not there")
    elif meta is not None and (meta.get("sha256") != hashlib.sha256(data).hexdigest() or meta.get("bytes") != len(data)):
        problems.append(f"{side}: its checksum or size is not {EXPORT_FILE}'s")
    elif meta is None and data is not None and not problems:
        problems.append(f"{art}: there, its sidecar not")
    return data, meta, problems


def _stable(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k not in EXPORT_CLOCK}


def _kill_export(world, kills, seed):
    server, root = world["server"], world["root"]
    refs = [root / f"export-ref{i}" for i in range(2)]
    for ref in refs:
        r = server.run(_export_argv(world, ref))
        assert r.rc == 0, r.log
    (want, want_meta, p0), (data1, meta1, p1) = _export_state(refs[0]), _export_state(refs[1])
    assert not p0 + p1 and want is not None
    assert data1 == want and _stable(meta1) == _stable(want_meta), "two uninterrupted exports differ"
    rng = random.Random(seed)
    tally = Tally("export")
    for ep in range((kills + EPISODE - 1) // EPISODE):
        out = root / f"export-s{seed}-ep{ep}"
        for _ in range(min(EPISODE, kills - ep * EPISODE)):
            run = server.run(_export_argv(world, out), kill_after=rng.uniform(0, r.seconds))
            problems = _export_state(out)[2] + partial_files(out)
            if not run.killed and run.rc != 0:
                problems.append(f"rc {run.rc}: {run.log[-500:]}")
            tally.record(run, problems)
        final = server.run(_export_argv(world, out))
        assert final.rc == 0, final.log
        data, meta, problems = _export_state(out)
        assert not problems, problems
        assert data == want, "the rerun's artefact is not the uninterrupted export's"
        assert _stable(meta) == _stable(want_meta), "the rerun's sidecar is not the uninterrupted export's"
    _tally(tally)
    assert not tally.problems, tally.problems
    return tally


@pytest.mark.slow  # two reference exports and 6 more: over a minute on the shared cores
def test_kill_export(world):
    assert _kill_export(world, KILLS, seed=0).tried == KILLS


@pytest.mark.slow
def test_kill_export_slow(world):
    assert _kill_export(world, SLOW_KILLS, seed=1).tried == SLOW_KILLS


# ------------------------------------------------------------------------------- a full disk
def _capped_run(argv, fsize: int):
    """The verb in a new process whose files are capped at `fsize` bytes (RLIMIT_FSIZE: a write past
    it fails with EFBIG, as one past a full disk fails with ENOSPC); no compilation cache (its files
    would meet the cap first)."""
    import resource
    import signal
    import subprocess
    import sys

    def cap():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-c", "import sys; from styljax.infer.cli import main; sys.exit(main(sys.argv[1:]))",
                           *map(str, argv)], preexec_fn=cap, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "STYLJAX_COMPILE_CACHE": "0"})


@pytest.mark.slow
def test_full_disk_at_a_checkpoint_keeps_the_last_one_and_resumes(world):
    """A checkpoint write that fails (every file capped at 32 KB, RLIMIT_FSIZE: the sample sheets and
    logs fit, the checkpoint's arrays do not) stops the run with one line and a non-zero exit; the
    previous checkpoint restores, and a later run with room resumes and ends where an uninterrupted
    run does."""
    server, root = world["server"], world["root"]
    ref, _ = _reference(world, "train-stylebank")
    out = root / "full-disk"
    argv = _train_argv(world, "train-stylebank", out)
    assert server.run([*argv, "--steps", "3"]).rc == 0
    full = _capped_run(argv, 32 * 1024)  # a process of its own: orbax's writer threads do not survive a fork
    lines = [l for l in full.stderr.splitlines() if l.strip()]
    assert full.returncode != 0
    assert "Traceback" not in full.stderr, full.stderr[-2000:]
    assert lines[-1].startswith("styljax: ") and "checkpoint of step 6 not written" in lines[-1], lines[-3:]
    assert "the last complete checkpoint is step 3" in lines[-1]
    ckpt = root / "full-disk.run" / "ckpt"
    assert sorted(p.name for p in ckpt.iterdir() if p.name.isdigit()) == ["3"] and not checkpoint_errors(ckpt)
    again = server.run(argv)
    assert again.rc == 0, again.log
    assert _same(out, ref)
