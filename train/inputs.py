"""What a training run reads: content photos (folders, a TFDS dataset or scikit-image's) and style
images, and the flags that name them."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from styljax.errors import StyljaxError

if TYPE_CHECKING:
    from styljax.train.configs import Config

SKIMAGE_CONTENT = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field")  # colour photos in the wheel


def content_flags(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--content-dir", default=None, nargs="+", metavar="DIR",
                     help="folder(s) of content photos (default: scikit-image photos)")
    src.add_argument("--tfds", default=None, metavar="NAME[:SPLIT]",
                     help="content from a prepared TFDS dataset with an 'image' feature, e.g. coco/2017 or "
                          "coco/2017:train[:5000] (split default: train; needs the [tfds] extra)")
    p.add_argument("--exclude", default=None, help="--content-dir stems to hold out, comma-separated (default: per config)")
    p.add_argument("--tfds-data-dir", default=None,
                   help="where the --tfds dataset is prepared (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)")


def style_images(specs: list[str]) -> dict:
    from styljax.io import image

    files = []
    for s in specs:
        files += image.list_images(s)
    names = [Path(f).stem for f in files]
    if len(set(names)) != len(names):
        raise StyljaxError(f"style names (file stems) must be unique, got {', '.join(names)}")
    from styljax.stores.stylebank_store import check_style_name

    return {check_style_name(n): image.load_image(f, max_side=1024) for n, f in zip(names, files)}


_TFDS_SPEC = re.compile(r"(?P<name>[^:\[\]\s]+?(?::\d+\.\d+\.\d+)?)(?::(?P<split>\S+))?")


def parse_tfds_spec(spec: str) -> tuple[str, str]:
    """`NAME[:VERSION][:SPLIT]` -> (name, split); split defaults to `train`.

    `coco/2017` -> (coco/2017, train); `coco/2017:validation[:500]` -> (coco/2017, validation[:500]);
    a TFDS version right after the name stays part of it: `mnist:3.0.1:test` -> (mnist:3.0.1, test).
    """
    m = _TFDS_SPEC.fullmatch(spec.strip())
    if not m:
        raise StyljaxError(f"--tfds: expected NAME[:SPLIT] (e.g. coco/2017 or coco/2017:validation), got {spec!r}")
    return m["name"], m["split"] or "train"


def content_source(content_dir: str | list[str] | None, exp: Config, tfds: str | None = None,
                   tfds_data_dir: str | None = None, exclude_given: bool = False):
    """(source, number of images) for --content-dir (one folder or several), --tfds, or the
    scikit-image photos."""
    from styljax.io import data

    if tfds_data_dir is not None and tfds is None:
        raise StyljaxError("--tfds-data-dir needs --tfds")
    if tfds is not None:
        if exclude_given:
            raise StyljaxError("--exclude applies to --content-dir only (use the split, e.g. train[100:], with --tfds)")
        name, split = parse_tfds_spec(tfds)
        source = data.tfds_source(name, split, exp.short_side, tfds_data_dir)
        return source, len(source)
    if content_dir is None:
        from styljax.io.samples import skimage_image

        imgs = [skimage_image(n) for n in SKIMAGE_CONTENT]
        return data.ImageSource(lambda i: imgs[i], len(imgs), exp.short_side), len(imgs)
    dirs = [content_dir] if isinstance(content_dir, (str, Path)) else content_dir
    files = [f for d in dirs for f in data.folder_files(d, exp.exclude)]
    return data.folder_source(files, exp.short_side), len(files)


def content_of(args: argparse.Namespace, exp: Config):
    return content_source(args.content_dir, exp, args.tfds, args.tfds_data_dir, exclude_given=args.exclude is not None)


