"""Kill -9 harness: run a `styljax` verb, SIGKILL it at a random moment, check what it left on disk.

A fork server (one Python process that has imported the CLI and its libraries, JAX's backend not
started) forks a child per run, so a run starts in milliseconds and the random moment falls in the
verb's own work (loading, training, writing) rather than in the interpreter's start-up. The server
kills its own child (it reaps it only after), so the signal can never reach a recycled pid.

After a kill the checks are:
- `partial_files(root)`: every file under its final name reads whole (images decode every frame,
  `.npz` artefacts pass their sha256, JSON parses, each JSON line parses); hidden files (a write in
  progress, `.name.XXXX.suffix`) and orbax's `*.orbax-checkpoint-tmp-*` directories are in-progress
  by name and skipped;
- `model_error(dir)`: a model directory loads (StyleBank, CIN, Johnson or Net1);
- `checkpoint_errors(ckpt)`: every finished orbax step directory restores.

Used by tests/test_kill.py; `Tally` counts kills and intact states for BENCHMARKS.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

SERVER = r"""
import json, os, signal, sys, time
from styljax.infer.cli import build_parser, main
build_parser()  # imports every verb's module
import jax, flax, optax, numpy, PIL.Image  # noqa: F401  (imported, no backend started)
import orbax.checkpoint  # noqa: F401
from styljax import training  # noqa: F401
from styljax.io import store
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        if req.get("cwd"):
            os.chdir(req["cwd"])
        try:
            rc = main(req["argv"])
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
            rc = 99
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    kill_after, killed = req.get("kill_after"), False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if kill_after is not None and time.monotonic() - t0 >= kill_after:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            killed = True
            break
        time.sleep(0.002)
    rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    print(json.dumps({"rc": rc, "killed": killed, "seconds": time.monotonic() - t0}), flush=True)
"""


@dataclasses.dataclass
class Run:
    rc: int
    killed: bool  # SIGKILLed by the harness (False: it finished first)
    seconds: float
    log: str  # what the run printed


class ForkServer:
    """`run(argv, kill_after=None)`: the verb in a forked child, SIGKILLed after `kill_after` s."""

    def __init__(self, log_dir: Path, env: dict | None = None):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.n = 0
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env={**os.environ, **(env or {})})
        line = self.proc.stdout.readline()
        if not line or not json.loads(line).get("ready"):
            raise RuntimeError("kill harness: the fork server did not start")

    def run(self, argv: list[str], kill_after: float | None = None, cwd: Path | None = None) -> Run:
        self.n += 1
        log = self.log_dir / f"run{self.n:04d}.log"
        req = {"argv": [str(a) for a in argv], "kill_after": kill_after, "log": str(log),
               "cwd": str(cwd) if cwd else None}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        out = json.loads(self.proc.stdout.readline())
        return Run(out["rc"], out["killed"], out["seconds"], log.read_text() if log.exists() else "")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


@dataclasses.dataclass
class Tally:
    """Kills tried, how many landed before the run finished, and states found intact."""

    verb: str
    tried: int = 0
    landed: int = 0
    intact: int = 0
    problems: list = dataclasses.field(default_factory=list)

    def record(self, run: Run, problems: list[str]) -> None:
        self.tried += 1
        self.landed += run.killed
        self.intact += not problems
        self.problems += problems

    def line(self) -> str:
        return json.dumps({"verb": self.verb, "kills_tried": self.tried, "kills_landed": self.landed,
                           "states_intact": self.intact})


def _in_progress(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return any(p.startswith(".") or ".orbax-checkpoint-tmp" in p for p in parts) or "tb" in parts[:-1]


def partial_files(root: Path) -> list[str]:
    """Files under their final names under `root` that do not read whole."""
    from PIL import Image, ImageSequence

    from styljax.io import store
    from styljax.errors import StyljaxError

    bad = []
    if not root.exists():
        return bad
    for p in sorted(root.rglob("*")):
        if not p.is_file() or _in_progress(p, root):
            continue
        suffix = p.suffix.lower()
        try:
            if suffix in (".png", ".jpg", ".jpeg", ".gif", ".webp"):
                with Image.open(p) as im:
                    for frame in ImageSequence.Iterator(im):
                        frame.load()
            elif suffix == ".npz":
                store.load_tree(p)
            elif suffix == ".json":
                json.loads(p.read_text())
            elif suffix == ".jsonl":
                for line in p.read_text().splitlines():
                    json.loads(line)
            elif suffix == ".mp4":
                import av

                with av.open(str(p)) as c:
                    for _ in c.decode(video=0):
                        pass
        except (OSError, ValueError, SyntaxError, StyljaxError, Exception) as e:  # noqa: BLE001 - any failure is the finding
            bad.append(f"{p}: {type(e).__name__}: {str(e)[:200]}")
    return bad


def model_error(path: Path) -> str | None:
    """None if the model directory at `path` loads, else why not."""
    from styljax.errors import StyljaxError

    try:
        manifest = json.loads((path / "manifest.json").read_text())
        if manifest.get("format", "").startswith("styljax-video-net1"):
            from styljax.stores import video_store

            video_store.load_net1(path)
        else:
            from styljax.methods import store_for_model as open_store  # #32 renamed it

            open_store(path).load_model(path)
    except (OSError, ValueError, KeyError, StyljaxError) as e:
        return f"{path}: does not load: {type(e).__name__}: {str(e)[:200]}"
    return None


def checkpoint_errors(ckpt: Path) -> list[str]:
    """Every finished orbax step under `ckpt` (a `styljax.io.checkpoint` manager's directory) restores."""
    import orbax.checkpoint as ocp

    bad = []
    if not ckpt.is_dir():
        return bad
    for step in sorted(p for p in ckpt.iterdir() if p.name.isdigit()):
        try:
            ocp.PyTreeCheckpointer().restore((step / "state").absolute())
            json.loads((step / "meta" / "metadata").read_text())
        except Exception as e:  # noqa: BLE001
            bad.append(f"{step}: does not restore: {type(e).__name__}: {str(e)[:200]}")
    return bad
