"""Content sources -> crop batches: image folders, TFDS (mocked and a real prepared dataset), the CLI flags.

The TFDS tests need `tensorflow-datasets` (in the `dev` extra) but not TensorFlow: TFDS reads
array_record files and decodes images with PIL on its own.
"""

import json
import shutil
import sys

import numpy as np
import pytest

from styljax.infer.cli import build_parser, main
from styljax.io import data, image
from styljax.errors import StyljaxError

B, CROP = 3, 16


def _assert_batches(ds, n):
    """`ds[step]` batches: shape, dtype, range, indices, and step-addressable determinism."""
    a = ds[5]
    assert a["image"].shape == (B, CROP, CROP, 3) and a["image"].dtype == np.float32
    assert 0.0 <= a["image"].min() and a["image"].max() <= 1.0
    assert a["index"].shape == (B,) and all(0 <= i < n for i in a["index"])
    np.testing.assert_array_equal(ds[5]["image"], a["image"])
    assert not np.array_equal(ds[4]["image"], a["image"])


# ------------------------------------------------------------------------------------------
# Folders
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(20, 28), (24, 18), (30, 30), (18, 40)]):
        image.save_image(d / f"img{i}.png", rng.uniform(size=(h, w, 3)))
    (d / "notes.txt").write_text("not an image")
    return d


def test_folder_files_excludes_stems(photo_dir):
    assert [p.name for p in data.folder_files(photo_dir)] == ["img0.png", "img1.png", "img2.png", "img3.png"]
    assert [p.stem for p in data.folder_files(photo_dir, exclude=("img1", "img3", "absent"))] == ["img0", "img2"]
    with pytest.raises(StyljaxError, match="no training images left"):
        data.folder_files(photo_dir, exclude=("img0", "img1", "img2", "img3"))


def test_folder_source_resizes_short_side(photo_dir):
    src = data.folder_source(data.folder_files(photo_dir), short_side=24)
    assert len(src) == 4
    for i in range(4):
        assert min(src[i].shape[:2]) == 24 and src[i].shape[2] == 3 and src[i].dtype == np.float32
    assert src[3].shape == (24, round(40 * 24 / 18), 3)


def test_crop_batches_over_a_folder_are_deterministic(photo_dir):
    files = data.folder_files(photo_dir)
    ds = data.crop_batches(data.folder_source(files, short_side=20), CROP, B, seed=1)
    _assert_batches(ds, len(files))
    # a fresh pipeline (fresh, uncached source) with the same seed gives the same batch at any step
    again = data.crop_batches(data.folder_source(files, short_side=20, cache=False), CROP, B, seed=1)
    for step in (0, 7):
        np.testing.assert_array_equal(again[step]["image"], ds[step]["image"])
        np.testing.assert_array_equal(again[step]["index"], ds[step]["index"])
    other = data.crop_batches(data.folder_source(files, short_side=20), CROP, B, seed=2)
    assert not np.array_equal(other[0]["image"], ds[0]["image"])


# ------------------------------------------------------------------------------------------
# Dataset arrays -> float RGB
# ------------------------------------------------------------------------------------------


def test_as_rgb01_greyscale_alpha_and_dtypes():
    grey = np.array([[0, 255], [51, 102]], np.uint8)
    for g in (grey, grey[..., None]):
        out = data.as_rgb01(g)
        assert out.shape == (2, 2, 3) and out.dtype == np.float32
        np.testing.assert_allclose(out[..., 1], grey / 255.0, atol=1e-7)
        np.testing.assert_array_equal(out[..., 0], out[..., 2])
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 1] = (255, 0, 0, 255)  # pixel 0 fully transparent -> white; pixel 1 opaque red
    np.testing.assert_allclose(data.as_rgb01(rgba)[0], [[1, 1, 1], [1, 0, 0]])
    np.testing.assert_allclose(data.as_rgb01(np.full((1, 1, 3), 65535, np.uint16)), 1.0)
    np.testing.assert_allclose(data.as_rgb01(np.full((1, 1, 3), 2.0, np.float64)), 1.0)
    with pytest.raises(StyljaxError, match="shape"):
        data.as_rgb01(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(StyljaxError, match="dtype"):
        data.as_rgb01(np.zeros((4, 4, 3), np.int32))


# ------------------------------------------------------------------------------------------
# TFDS
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tfds():
    tfds = pytest.importorskip("tensorflow_datasets")
    tfds.disable_progress_bar()
    return tfds


def test_tfds_mock_mnist_gives_rgb_float_crops(tfds):
    # mnist's images are (28, 28, 1) uint8; USE_CODE fakes examples from the feature spec, no files.
    with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
        src = data.tfds_source("mnist", "train", short_side=20)
        assert len(src) == 6
        imgs = [src[i] for i in range(len(src))]
        for img in imgs:
            assert img.shape == (20, 20, 3) and img.dtype == np.float32
            assert 0.0 <= img.min() and img.max() <= 1.0
            np.testing.assert_allclose(img[..., 0], img[..., 2], atol=1e-6)  # greyscale -> RGB (resize rounds per channel)
        assert len({img.tobytes() for img in imgs}) > 1 and max(img.max() for img in imgs) > 0.5  # real /255 data
        np.testing.assert_array_equal(src[2], imgs[2])  # random access is repeatable
        ds = data.crop_batches(src, CROP, B, seed=0)
        _assert_batches(ds, 6)
        again = data.crop_batches(data.tfds_source("mnist", "train", short_side=20), CROP, B, seed=0)
        np.testing.assert_array_equal(again[9]["image"], ds[9]["image"])


_TINY_SIZES = [(20, 30 + i) for i in range(5)]  # unique widths identify the examples after TFDS shuffles them


@pytest.fixture(scope="module")
def tiny_tfds(tfds, tmp_path_factory):
    """A real TFDS dataset prepared in array_record format by a local builder, without TensorFlow.

    The builder is not registered, so reading goes through the prepared files alone (as it must
    for coco/2017, whose builder code needs TensorFlow).
    """
    from PIL import Image

    rng = np.random.default_rng(3)
    originals = {w: rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in _TINY_SIZES}

    class TinyPhotos(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)), "label": tfds.features.ClassLabel(num_classes=2),
            }))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(list(originals)), "test": self._generate_examples([30, 31])}

        def _generate_examples(self, widths):
            for w in widths:
                yield w, {"image": Image.fromarray(originals[w]), "label": w % 2}

    d = tmp_path_factory.mktemp("tfds")
    TinyPhotos(data_dir=d, file_format="array_record").download_and_prepare()
    return d, originals


def test_tfds_prepared_dataset_reads_without_builder_code(tiny_tfds):
    d, originals = tiny_tfds
    src = data.tfds_source("tiny_photos", "train", short_side=20, data_dir=str(d))
    assert len(src) == 5
    seen = set()
    for i in range(len(src)):
        img = src[i]  # short side already 20: no resize, so the exact decoded pixels
        w = img.shape[1]
        np.testing.assert_allclose(img, originals[w] / 255.0, atol=1e-6)
        seen.add(w)
    assert seen == set(originals)
    assert len(data.tfds_source("tiny_photos", "train[:3]", 20, str(d))) == 3
    assert len(data.tfds_source("tiny_photos", "test", 20, str(d))) == 2
    _assert_batches(data.crop_batches(src, CROP, B, seed=0), 5)


def test_tfds_errors_are_one_line(tiny_tfds, tmp_path):
    d, _ = tiny_tfds
    cases = [
        ((d, "tiny_photos", "bogus"), "Unknown split 'bogus'"),
        ((tmp_path, "tiny_photos", "train"), "no such dataset"),
        ((tmp_path, "no_such_dataset_xyz", "train"), "no such dataset"),
        ((tmp_path, "mnist", "train"), "mnist: not prepared in"),  # builder code exists, no files
    ]
    # A random-access-less format: relabel the prepared files as TFRecord.
    tfr = tmp_path / "tfr"
    shutil.copytree(d / "tiny_photos", tfr / "tiny_photos")
    info = tfr / "tiny_photos" / "1.0.0" / "dataset_info.json"
    info.write_text(json.dumps({**json.loads(info.read_text()), "fileFormat": "tfrecord"}))
    cases.append(((tfr, "tiny_photos", "train"), "prepared as tfrecord files"))
    for (data_dir, name, split), msg in cases:
        with pytest.raises(StyljaxError, match=msg) as e:
            data.tfds_source(name, split, 20, data_dir=str(data_dir))
        assert "\n" not in str(e.value), str(e.value)


def test_tfds_missing_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import -> ImportError
    with pytest.raises(StyljaxError, match=r"styljax\[tfds\]"):
        data.tfds_source("coco/2017", "train", 20)


# ------------------------------------------------------------------------------------------
# CLI: --tfds NAME[:SPLIT], --tfds-data-dir
# ------------------------------------------------------------------------------------------


def test_parse_tfds_spec():
    from styljax.train.inputs import parse_tfds_spec

    assert parse_tfds_spec("coco/2017") == ("coco/2017", "train")
    assert parse_tfds_spec("coco/2017:validation") == ("coco/2017", "validation")
    assert parse_tfds_spec("coco/2017:train[:5000]") == ("coco/2017", "train[:5000]")
    assert parse_tfds_spec("mnist:3.0.1") == ("mnist:3.0.1", "train")
    assert parse_tfds_spec("mnist:3.0.1:test[50%:]") == ("mnist:3.0.1", "test[50%:]")
    for bad in ("", ":train", "coco/2017:", "a b"):
        with pytest.raises(StyljaxError, match="--tfds"):
            parse_tfds_spec(bad)


def _args(*extra):
    return build_parser("train").parse_args(["train", "stylebank", "--styles", "s.png", "--out", "m", "--config", "tiny",
                                      *extra])


def test_cli_tfds_flags(tiny_tfds, capsys):
    from styljax.train import inputs, main

    d, _ = tiny_tfds
    args = _args("--tfds", "tiny_photos:train[1:]", "--tfds-data-dir", str(d))
    exp = main.config_of(args)
    source, n = inputs.content_of(args, exp)
    assert n == len(source) == 4 and min(source[0].shape[:2]) == exp.short_side
    add = build_parser().parse_args(
        ["add-style", "--model", "m", "--style", "s.png", "--tfds", "tiny_photos", "--tfds-data-dir", str(d)])
    assert inputs.content_of(add, main.config_of(add, "stylebank"))[1] == 5
    with pytest.raises(SystemExit):  # argparse: not allowed with --content-dir
        _args("--tfds", "coco/2017", "--content-dir", "photos")
    assert "not allowed with argument" in capsys.readouterr().err
    for extra, msg in [(("--tfds-data-dir", str(d)), "needs --tfds"),
                       (("--tfds", "tiny_photos", "--tfds-data-dir", str(d), "--exclude", "a"), "--content-dir only")]:
        args = _args(*extra)
        with pytest.raises(StyljaxError, match=msg):
            inputs.content_of(args, main.config_of(args))


def test_cli_tfds_error_exits_2_with_one_line(tiny_tfds, tmp_path, capsys):
    style = tmp_path / "s.png"
    image.save_image(style, np.full((16, 16, 3), 0.5))
    rc = main(["train", "stylebank", "--config", "tiny", "--styles", str(style), "--out", str(tmp_path / "m"),
               "--tfds", "no_such_dataset_xyz", "--tfds-data-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("styljax: tfds no_such_dataset_xyz: no such dataset") and "\n" not in err
