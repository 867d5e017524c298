"""The README's screenshot of the web page: `styljax serve` with the shipped models, driven by
headless chromium (Playwright): scikit-image's astronaut, two styles mixed, a painted region.

    .venv/bin/python docs/serve_screenshot.py   # -> docs/serve_page.jpg
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.serve_load import Server  # noqa: E402


def main() -> None:
    server = Server(["--model", f"stylebank={ROOT / 'checkpoints' / 'stylebank'}",
                     "--model", f"cin={ROOT / 'checkpoints' / 'cin'}"])
    try:
        with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
            photo = Path(tmp) / "astronaut.jpg"
            Image.fromarray(skimage.data.astronaut()).save(photo, quality=92)
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(server.url + "/")
            page.wait_for_selector("#styles [data-style]")
            page.set_input_files("#photo", str(photo))
            for name, value in (("composition-vii", "0"), ("wave", "60"), ("the-scream", "40")):
                page.locator(f'#styles [data-style="{name}"] input[type=range]').fill(value)
            page.select_option("#region-style", "starry-night")
            box = page.locator("#canvas").bounding_box()
            page.mouse.move(box["x"] + 0.15 * box["width"], box["y"] + 0.12 * box["height"])
            page.mouse.down()
            for t in np.linspace(0, 1, 30):  # paint the sky behind the astronaut's head
                page.mouse.move(box["x"] + (0.15 + 0.7 * t) * box["width"], box["y"] + (0.12 + 0.03 * np.sin(6 * t)) * box["height"])
            page.mouse.up()
            page.select_option("#size", "512")
            with page.expect_response("**/v1/stylize", timeout=120_000):
                page.click("#go")
            page.wait_for_function("document.querySelector('#result').naturalWidth > 0", timeout=120_000)
            png = Path(tmp) / "page.png"
            page.screenshot(path=str(png), full_page=True)
            browser.close()
            out = ROOT / "docs" / "serve_page.jpg"
            Image.open(png).convert("RGB").save(out, quality=85, optimize=True)
            print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
