"""`styljax.runtime.xla_cpu`: the perceptual-loss training verbs get their XLA:CPU options (the video
trainer and the rendering verbs do not), the user's own settings win, and the options reach XLA
when set after `import jax` but before the first computation."""

import os
import subprocess
import sys
import textwrap

import pytest

from styljax.runtime import xla_cpu
from styljax.infer.cli import build_parser

FLAG = xla_cpu.PERCEPTUAL_TRAINING[0].split("=", 1)[0]


def test_use_adds_missing_options_only(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert xla_cpu.use(xla_cpu.PERCEPTUAL_TRAINING) == list(xla_cpu.PERCEPTUAL_TRAINING)
    assert os.environ["XLA_FLAGS"] == " ".join(xla_cpu.PERCEPTUAL_TRAINING)
    assert xla_cpu.use(xla_cpu.PERCEPTUAL_TRAINING) == []  # idempotent
    assert os.environ["XLA_FLAGS"] == " ".join(xla_cpu.PERCEPTUAL_TRAINING)


def test_use_keeps_the_users_value(monkeypatch):
    mine = f"--xla_cpu_enable_fast_math=false {FLAG}=individual_convolution"
    monkeypatch.setenv("XLA_FLAGS", mine)
    assert xla_cpu.use(xla_cpu.PERCEPTUAL_TRAINING) == []
    assert os.environ["XLA_FLAGS"] == mine
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    assert xla_cpu.use(xla_cpu.PERCEPTUAL_TRAINING) == list(xla_cpu.PERCEPTUAL_TRAINING)
    assert os.environ["XLA_FLAGS"].split() == ["--xla_cpu_enable_fast_math=false", *xla_cpu.PERCEPTUAL_TRAINING]


@pytest.mark.parametrize("argv, flags", [
    (["train", "cin", "--styles", "a.jpg", "--out", "o"], xla_cpu.PERCEPTUAL_TRAINING),
    (["train", "stylebank", "--styles", "a.jpg", "--out", "o"], xla_cpu.PERCEPTUAL_TRAINING),
    (["add-style", "--model", "m", "--style", "s.jpg", "--name", "n"], xla_cpu.PERCEPTUAL_TRAINING),
    (["train", "johnson", "--style", "a.jpg", "--out", "o"], xla_cpu.PERCEPTUAL_TRAINING),
    (["train", "video", "--style", "wave", "--content-dir", "d", "--out", "o"], None),
    (["stylize", "a.jpg", "--method", "cin", "--style", "wave", "--out", "o.jpg"], None),
])
def test_perceptual_trainers_carry_their_options(argv, flags):
    assert getattr(build_parser(argv[0]).parse_args(argv), "xla_flags", None) == flags


_PROBE = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp
    from styljax.runtime import xla_cpu
    if sys.argv[1] == "training":
        xla_cpu.use(xla_cpu.PERCEPTUAL_TRAINING)  # after `import jax`, before the first computation
    conv = lambda x, k: jax.nn.relu(jax.lax.conv_general_dilated(
        x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) + 1.0)
    hlo = jax.jit(conv).lower(jnp.ones((4, 64, 64, 64)), jnp.ones((3, 3, 64, 64))).compile().as_text()
    print("__ynn_fusion" in hlo)
""")


def _fuses(mode: str) -> bool:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()[-1] == "True"


def test_training_options_reach_xla():
    if not _fuses("default"):
        pytest.skip("this XLA build fuses nothing into YNNPACK by default")
    assert not _fuses("training")
