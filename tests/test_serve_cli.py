"""`styljax serve` as a program (issue #34): `--help` shows the defaults, and the start-up log
carries styljax's lines without the libraries' INFO noise (JAX's `Unable to initialize backend
'tpu'`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from styljax.infer.cli import main


def test_serve_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split("options:", 1)[1].split())  # argparse wraps lines
    for flag, default in (("--port PORT", "8000"), ("--host HOST", "127.0.0.1"), ("--max-pixels MAX_PIXELS", "24000000"),
                          ("--queue-size QUEUE_SIZE", "64"), ("--warmup MODE", "background")):
        after = text.split(flag, 1)[1].split(" --", 1)[0]
        assert f"(default: {default})" in after, (flag, after)
    assert "(default: None)" not in text and "(default: False)" not in text and "(default: [])" not in text


def test_serve_logging_keeps_styljax_lines_and_drops_jax_info():
    code = ("import logging; from styljax.infer.serve import configure_logging; configure_logging(); "
            "import jax; jax.devices(); "
            "logging.getLogger('jax._src.xla_bridge').info(\"Unable to initialize backend 'tpu': probe\"); "
            "logging.getLogger('styljax.serve').info('hello from serve')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "hello from serve" in run.stderr
    assert "Unable to initialize backend" not in run.stderr
