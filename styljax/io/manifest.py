"""A model directory's `manifest.json`: what the model is (format, method, config, provenance)."""

from __future__ import annotations

import json
from pathlib import Path

from styljax.errors import StyljaxError


def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except FileNotFoundError:
        raise StyljaxError(f"{path}: not a styljax model (no manifest.json)") from None
    except (OSError, ValueError) as e:
        raise StyljaxError(f"{path}/manifest.json: unreadable ({e})") from None
    if not isinstance(manifest, dict):
        raise StyljaxError(f"{path}/manifest.json: a JSON object expected, got {type(manifest).__name__}")
    return manifest
