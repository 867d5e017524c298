"""The README's feed-forward gallery: scikit-image photos through the shipped StyleBank, CIN and
Johnson models, each tile one `styljax stylize` call, tiled with `styljax.imaging.sheets.contact_sheet`.

    .venv/bin/python docs/feedforward_gallery.py   # -> docs/feedforward_gallery.jpg (~1 min)

Rerun it whenever a shipped model changes (`make gallery` does, with the other generated pictures).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "feedforward_gallery.jpg"
PHOTOS = ("astronaut", "coffee")
SIZE = 512  # the size a user renders at; tiles are shrunk for the page
TILE = 240
# (label, stylize arguments); "{mask}" is a left/right mask the size of the photo
TILES = (
    ("StyleBank starry-night", ["--method", "stylebank", "--style", "starry-night"]),
    ("CIN starry-night", ["--method", "cin", "--style", "starry-night"]),
    ("Johnson starry-night", ["--method", "johnson", "--style", "starry-night"]),
    ("CIN the-scream", ["--method", "cin", "--style", "the-scream"]),
    ("CIN 0.5/0.5 mix", ["--method", "cin", "--style", "starry-night:0.5,the-scream:0.5"]),
    ("CIN regions (mask)", ["--method", "cin", "--style", "starry-night,the-scream", "--mask", "{mask}"]),
    ("CIN starry-night, strength 0.5", ["--method", "cin", "--style", "starry-night", "--strength", "0.5"]),
)


def main() -> None:
    from styljax.io import image
    from styljax.imaging import sheets
    from styljax.io.samples import skimage_image

    tiles, labels = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in PHOTOS:
            full = skimage_image(name)
            photo = image.resize(full, image.fit_max_side(*full.shape[:2], SIZE))
            src = image.save_image(tmp / f"{name}.png", photo)
            h, w = photo.shape[:2]
            mask = image.save_image(tmp / f"{name}_mask.png", np.repeat((np.arange(w) >= w // 2)[None, :, None], h, 0)
                                    .astype(np.float32).repeat(3, -1))
            tiles.append(photo)
            labels.append(name)
            for label, args in TILES:
                out = tmp / f"{name}_{len(tiles)}.png"
                argv = [a.replace("{mask}", str(mask)) for a in args]
                subprocess.run([sys.executable, "-m", "styljax.infer.cli", "stylize", *argv, str(src), "--size", str(SIZE),
                                "--out", str(out), "--quiet"], check=True, cwd=ROOT)
                tiles.append(image.load_image(out))
                labels.append(label)
    small = [np.asarray(image.resize(t, image.fit_max_side(*t.shape[:2], TILE))) for t in tiles]
    image.save_image(OUT, sheets.contact_sheet(small, ncols=1 + len(TILES), labels=labels), quality=85)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
