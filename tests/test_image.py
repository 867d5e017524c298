"""Tests for styljax.io.image: loading, saving, atomic writes, colour helpers, resizing, sheets."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageFile

from styljax.io import image as sim
from styljax.errors import StyljaxError, TooLarge
from styljax.imaging.color import preserve_colors, rgb_to_yuv, yuv_to_rgb
from styljax.imaging.sheets import contact_sheet
from styljax.io.atomic import atomic_path, atomic_paths, atomic_write
from styljax.io.image import fit_max_side, list_images, load_image, load_images, save_image
from styljax.imaging.geometry import resize
from styljax.imaging.color import preserve_colors as match_luminance


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def astro() -> np.ndarray:
    """A 128x128 uint8 RGB photo."""
    return skimage.data.astronaut()[::4, ::4].copy()


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    """A 128x128 uint8 greyscale photo."""
    return skimage.data.camera()[::4, ::4].copy()


def _png16(path: Path, array: np.ndarray) -> Path:
    """Write a 16-bit PNG (greyscale (H, W) or RGB (H, W, 3)) by hand, bypassing PIL."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    h, w = array.shape[:2]
    colour_type = 2 if array.ndim == 3 else 0
    rows = array.astype(">u2").reshape(h, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return path


def _temp_leftovers(directory: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


# --------------------------------------------------------------------------------------------
# save / load round trips
# --------------------------------------------------------------------------------------------


def test_png_round_trip_is_exact(tmp_path: Path, astro: np.ndarray) -> None:
    x = astro.astype(np.float32) / 255.0
    out = save_image(tmp_path / "a.png", x)
    assert out == tmp_path / "a.png"
    y = load_image(out)
    assert y.dtype == np.float32 and y.shape == (128, 128, 3)
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".JPG", ".webp"])
def test_lossy_round_trip_is_close(tmp_path: Path, astro: np.ndarray, suffix: str) -> None:
    x = astro.astype(np.float32) / 255.0
    y = load_image(save_image(tmp_path / f"a{suffix}", x, quality=95))
    assert y.shape == x.shape and y.dtype == np.float32
    assert 0.0 <= y.min() and y.max() <= 1.0
    assert np.abs(y - x).mean() < 0.02


def test_bmp_round_trip_is_exact(tmp_path: Path, astro: np.ndarray) -> None:
    x = astro.astype(np.float32) / 255.0
    np.testing.assert_array_equal(load_image(save_image(tmp_path / "a.bmp", x)), x)


def test_jpeg_quality_matters(tmp_path: Path, astro: np.ndarray) -> None:
    x = astro.astype(np.float32) / 255.0
    lo = save_image(tmp_path / "lo.jpg", x, quality=10).stat().st_size
    hi = save_image(tmp_path / "hi.jpg", x, quality=95).stat().st_size
    assert lo < hi
    with pytest.raises(StyljaxError, match="quality"):
        save_image(tmp_path / "bad.jpg", x, quality=0)


@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 1)])
def test_save_greyscale_loads_as_three_equal_channels(tmp_path: Path, shape: tuple) -> None:
    grey = (np.arange(600).reshape(20, 30) % 256).astype(np.float32) / 255.0
    y = load_image(save_image(tmp_path / "g.png", grey.reshape(shape)))
    assert y.shape == (20, 30, 3)
    np.testing.assert_array_equal(y[..., 0], grey)
    np.testing.assert_array_equal(y[..., 0], y[..., 1])
    np.testing.assert_array_equal(y[..., 1], y[..., 2])


def test_save_accepts_jax_arrays(tmp_path: Path) -> None:
    x = jnp.linspace(0.0, 1.0, 4 * 5 * 3).reshape(4, 5, 3)
    y = load_image(save_image(tmp_path / "j.png", x))
    np.testing.assert_allclose(y, np.asarray(x), atol=0.5 / 255 + 1e-6)


def test_save_clips_rounds_and_zeroes_nan(tmp_path: Path) -> None:
    x = np.array([[[-0.5, 1.5, 0.4 / 255], [0.6 / 255, np.nan, 128.4 / 255]]], np.float32)
    y = load_image(save_image(tmp_path / "c.png", x))
    np.testing.assert_array_equal(np.rint(y * 255), [[[0, 255, 0], [1, 0, 128]]])


def test_save_uint8_is_taken_as_is(tmp_path: Path, astro: np.ndarray) -> None:
    y = load_image(save_image(tmp_path / "u.png", astro))
    np.testing.assert_array_equal(np.rint(y * 255).astype(np.uint8), astro)


def test_save_unknown_suffix_and_bad_shape(tmp_path: Path) -> None:
    x = np.zeros((4, 4, 3), np.float32)
    with pytest.raises(StyljaxError, match=r"a\.xyz"):
        save_image(tmp_path / "a.xyz", x)
    with pytest.raises(StyljaxError):
        save_image(tmp_path / "noext", x)
    with pytest.raises(StyljaxError, match="shape"):
        save_image(tmp_path / "b.png", np.zeros((4, 4, 4), np.float32))
    with pytest.raises(StyljaxError, match="shape"):
        save_image(tmp_path / "b.png", np.zeros((2, 4, 4, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_save_creates_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "x" / "y" / "z.png"
    assert save_image(target, np.ones((2, 3, 3), np.float32)) == target
    assert target.is_file()
    assert load_image(target).shape == (2, 3, 3)


# --------------------------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------------------------


def test_atomic_save_leaves_no_temp_files(tmp_path: Path, astro: np.ndarray) -> None:
    for _ in range(2):  # also overwriting an existing file
        save_image(tmp_path / "a.png", astro)
        save_image(tmp_path / "b.jpg", astro)
    assert _temp_leftovers(tmp_path, set()) == ["a.png", "b.jpg"]


def test_atomic_file_gets_umask_permissions(tmp_path: Path) -> None:
    path = save_image(tmp_path / "p.png", np.zeros((2, 2), np.float32))
    mask = os.umask(0o022)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_failing_save_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "keep.png"
    save_image(target, np.zeros((4, 4, 3), np.float32))
    before = target.read_bytes()

    def broken_save(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        Path(fp).write_bytes(b"half-written")  # type: ignore[arg-type]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(StyljaxError, match=r"keep\.png.*No space left"):
        save_image(target, np.ones((4, 4, 3), np.float32))
    assert target.read_bytes() == before
    assert _temp_leftovers(tmp_path, {"keep.png"}) == []


def test_failing_save_non_os_error_propagates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_save(self: Image.Image, *args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(RuntimeError, match="boom"):
        save_image(tmp_path / "n.png", np.ones((4, 4, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_and_atomic_path(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "data.bin"
    assert atomic_write(target, b"hello") == target
    assert target.read_bytes() == b"hello"
    atomic_write(target, b"world")
    assert target.read_bytes() == b"world"

    npy = tmp_path / "arr.npy"
    with atomic_path(npy) as tmp:
        assert tmp.parent == npy.parent and tmp.suffix == ".npy" and tmp != npy
        assert not npy.exists()
        np.save(tmp, np.arange(3))
    np.testing.assert_array_equal(np.load(npy), np.arange(3))

    with pytest.raises(ValueError, match="nope"):
        with atomic_path(npy) as tmp:
            tmp.write_bytes(b"garbage")
            raise ValueError("nope")
    np.testing.assert_array_equal(np.load(npy), np.arange(3))
    assert _temp_leftovers(tmp_path, {"sub", "arr.npy"}) == []
    assert _temp_leftovers(tmp_path / "sub", {"data.bin"}) == []


def test_atomic_paths_renames_all_or_none(tmp_path: Path) -> None:
    """Files that belong together (an artefact and its sidecar) appear only once all are written;
    a body that fails half-way leaves the previous ones and no temporaries."""
    art, side = tmp_path / "m.shlo", tmp_path / "m.shlo.json"
    with atomic_paths(art, side) as (a, s):
        assert a.suffix == ".shlo" and s.suffix == ".json" and not art.exists() and not side.exists()
        a.write_bytes(b"one")
        s.write_text("1")
    assert (art.read_bytes(), side.read_text()) == (b"one", "1")
    with pytest.raises(StyljaxError, match="m.shlo: cannot write: No space left"):
        with atomic_paths(art, side) as (a, s):
            a.write_bytes(b"two")
            raise OSError(28, "No space left on device")
    assert (art.read_bytes(), side.read_text()) == (b"one", "1")
    assert _temp_leftovers(tmp_path, {"m.shlo", "m.shlo.json"}) == []


def test_atomic_path_unwritable_parent(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    with pytest.raises(StyljaxError, match="cannot write"):
        atomic_write(blocker / "child.bin", b"data")


# --------------------------------------------------------------------------------------------
# modes
# --------------------------------------------------------------------------------------------


def test_exif_orientation_6_rotates(tmp_path: Path) -> None:
    stored = np.zeros((40, 60, 3), np.uint8)  # stored landscape, H=40, W=60
    stored[:16, :16] = (255, 0, 0)  # red block at stored top-left
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rot.jpg"
    img.save(path, "JPEG", exif=exif.tobytes(), quality=95)

    y = load_image(path)
    assert y.shape == (60, 40, 3)  # displayed portrait
    # Rotating 90 deg clockwise moves the top-left corner to the top-right.
    np.testing.assert_allclose(y[2:12, -12:-2].mean(axis=(0, 1)), [1, 0, 0], atol=0.08)
    assert y[2:12, 2:12].max() < 0.1
    assert y[-12:-2, -12:-2].max() < 0.1


def test_no_exif_is_not_rotated(tmp_path: Path) -> None:
    path = tmp_path / "plain.jpg"
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(path)
    assert load_image(path).shape == (40, 60, 3)


def test_greyscale_l_and_bilevel(tmp_path: Path, camera: np.ndarray) -> None:
    Image.fromarray(camera).save(tmp_path / "l.png")
    y = load_image(tmp_path / "l.png")
    assert y.shape == (128, 128, 3)
    np.testing.assert_array_equal(y[..., 0], camera / np.float32(255))
    assert (y[..., 0] == y[..., 1]).all() and (y[..., 1] == y[..., 2]).all()

    bits = Image.fromarray(camera > 128).convert("1")
    bits.save(tmp_path / "one.png")
    b = load_image(tmp_path / "one.png")
    np.testing.assert_array_equal(b[..., 0], (camera > 128).astype(np.float32))
    assert set(np.unique(b)) <= {0.0, 1.0}


def test_palette_image(tmp_path: Path, astro: np.ndarray) -> None:
    pal = Image.fromarray(astro).quantize(colors=16)
    assert pal.mode == "P"
    pal.save(tmp_path / "p.png")
    y = load_image(tmp_path / "p.png")
    expected = np.asarray(pal.convert("RGB"), np.float32) / 255
    np.testing.assert_array_equal(y, expected)


def test_palette_transparency_goes_white(tmp_path: Path) -> None:
    pal = Image.new("P", (4, 2), 0)
    pal.putpalette([0, 0, 255] + [255, 0, 0] + [0] * (254 * 3))
    pal.putpixel((0, 0), 1)
    pal.info["transparency"] = 0  # index 0 (blue) is transparent
    pal.save(tmp_path / "pt.png", transparency=0)
    y = load_image(tmp_path / "pt.png")
    np.testing.assert_array_equal(y[0, 0], [1, 0, 0])
    np.testing.assert_array_equal(y[1, 3], [1, 1, 1])


def test_rgba_composited_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[0, 0] = (0, 0, 0, 0)  # fully transparent black -> white
    rgba[0, 1] = (0, 0, 0, 255)  # opaque black -> black
    rgba[0, 2] = (255, 0, 0, 255)  # opaque red
    rgba[1, :] = (0, 0, 0, 51)  # 20% black over white -> 0.8
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    y = load_image(tmp_path / "a.png")
    np.testing.assert_allclose(y[0, 0], [1, 1, 1])
    np.testing.assert_allclose(y[0, 1], [0, 0, 0])
    np.testing.assert_allclose(y[0, 2], [1, 0, 0])
    np.testing.assert_allclose(y[1], np.full((3, 3), 0.8), atol=1e-6)


def test_la_composited_over_white(tmp_path: Path) -> None:
    la = np.array([[[0, 0], [100, 255]]], np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    y = load_image(tmp_path / "la.png")
    np.testing.assert_allclose(y[0, 0], [1, 1, 1])
    np.testing.assert_allclose(y[0, 1], [100 / 255] * 3, rtol=1e-6)


def test_16bit_greyscale_keeps_low_bits(tmp_path: Path) -> None:
    values = np.array([[0, 256, 257, 32768, 65535]], np.uint16)
    y = load_image(_png16(tmp_path / "g16.png", values))
    assert y.shape == (1, 5, 3) and y.dtype == np.float32
    g = y[0, :, 0]
    assert g[0] == 0.0 and g[4] == 1.0
    assert g[1] != g[2]  # 256 and 257 differ: not truncated to 8 bits
    np.testing.assert_allclose(g[1:3], [256 / 65535, 257 / 65535], rtol=1e-6)
    assert abs(g[3] - 0.5) < 1e-4  # 65535/2 stays ~0.5, not clipped at 255
    assert (y[..., 0] == y[..., 2]).all()


def test_16bit_via_pil_and_big_endian_tiff(tmp_path: Path) -> None:
    values = np.array([[1000, 40000], [257, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "p16.png")  # PIL mode I;16
    big = Image.frombytes("I;16B", (2, 2), values.astype(">u2").tobytes())
    big.save(tmp_path / "b16.tif")
    for name in ("p16.png", "b16.tif"):
        y = load_image(tmp_path / name)
        np.testing.assert_allclose(y[..., 0], values / 65535, rtol=1e-6, err_msg=name)


def test_32bit_int_mode_scaled_by_65535(tmp_path: Path) -> None:
    values = np.array([[0, 257, 65535, 100000]], np.int32)
    img = Image.fromarray(values)
    assert img.mode == "I"
    img.save(tmp_path / "i.tif")
    g = load_image(tmp_path / "i.tif")[0, :, 0]
    np.testing.assert_allclose(g, [0, 257 / 65535, 1, 1], rtol=1e-6)


def test_float_mode_is_clipped(tmp_path: Path) -> None:
    values = np.array([[-1.0, 0.25, 0.123456, 2.0]], np.float32)
    img = Image.fromarray(values)
    assert img.mode == "F"
    img.save(tmp_path / "f.tif")
    g = load_image(tmp_path / "f.tif")[0, :, 0]
    np.testing.assert_allclose(g, [0, 0.25, 0.123456, 1], rtol=1e-6)


def test_16bit_rgb_png_loads_approximately(tmp_path: Path) -> None:
    rgb = np.array([[[0, 32768, 65535], [65535, 1000, 20000]]], np.uint16)
    y = load_image(_png16(tmp_path / "rgb16.png", rgb))
    assert y.shape == (1, 2, 3)
    np.testing.assert_allclose(y, rgb / 65535, atol=1.5 / 255)


def test_cmyk_jpeg(tmp_path: Path, astro: np.ndarray) -> None:
    cmyk = Image.fromarray(astro).convert("CMYK")
    cmyk.save(tmp_path / "c.jpg", quality=95)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    y = load_image(tmp_path / "c.jpg")
    assert y.shape == (128, 128, 3)
    assert np.abs(y - astro / 255).mean() < 0.03


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt,suffix", [("PNG", ".png"), ("JPEG", ".jpg")])
def test_truncated_image(tmp_path: Path, astro: np.ndarray, fmt: str, suffix: str) -> None:
    buf = io.BytesIO()
    Image.fromarray(astro).save(buf, fmt)
    data = buf.getvalue()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StyljaxError, match=rf"cut\{suffix}: .*(truncated|corrupt)"):
        load_image(path)


def test_truncated_even_if_pil_global_is_lenient(
    tmp_path: Path, astro: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    buf = io.BytesIO()
    Image.fromarray(astro).save(buf, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(StyljaxError, match=r"cut\.jpg"):
        load_image(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(StyljaxError, match=r"empty\.png: empty file"):
        load_image(tmp_path / "empty.png")


def test_text_file_named_png(tmp_path: Path) -> None:
    (tmp_path / "fake.png").write_text("hello, I am not an image\n")
    with pytest.raises(StyljaxError, match=r"fake\.png: not an image"):
        load_image(tmp_path / "fake.png")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(StyljaxError, match=r"dir\.png: is a directory"):
        load_image(tmp_path / "dir.png")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_not_a_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(StyljaxError, match=r"pipe\.png: not a regular file"):
        load_image(tmp_path / "pipe.png")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StyljaxError, match=r"nope\.png: no such file"):
        load_image(tmp_path / "nope.png")


def test_permission_denied_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_image(tmp_path / "locked.png", np.zeros((2, 2, 3), np.float32))

    def deny(fp: object, *args: object, **kwargs: object) -> Image.Image:
        raise PermissionError(13, "Permission denied", str(fp))

    monkeypatch.setattr(Image, "open", deny)
    with pytest.raises(StyljaxError, match=r"locked\.png: permission denied"):
        load_image(path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_permission_denied_real(tmp_path: Path) -> None:
    path = save_image(tmp_path / "locked.png", np.zeros((2, 2, 3), np.float32))
    path.chmod(0)
    try:
        with pytest.raises(StyljaxError, match=r"locked\.png: permission denied"):
            load_image(path)
    finally:
        path.chmod(0o644)


def test_error_messages_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "fake.png").write_text("x")
    with pytest.raises(StyljaxError) as info:
        load_image(tmp_path / "fake.png")
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(str(tmp_path / "fake.png"))


# --------------------------------------------------------------------------------------------
# pixel caps
# --------------------------------------------------------------------------------------------


def test_oversized_image(tmp_path: Path) -> None:
    path = save_image(tmp_path / "big.png", np.zeros((20, 30, 3), np.float32))
    msg = r"big\.png: image is 30x20 \(600 pixels\).*limit of 599"
    with pytest.raises(StyljaxError, match=msg):
        load_image(path, max_pixels=599)
    assert load_image(path, max_pixels=600).shape == (20, 30, 3)


def test_size_checked_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_image(tmp_path / "big.png", np.zeros((20, 30, 3), np.float32))

    def no_decode(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    with pytest.raises(StyljaxError, match="over the limit"):
        load_image(path, max_pixels=100)


def test_env_var_sets_default_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_image(tmp_path / "big.png", np.zeros((20, 30, 3), np.float32))
    monkeypatch.setenv("STYLJAX_MAX_PIXELS", "100")
    assert sim.default_max_pixels() == 100
    with pytest.raises(StyljaxError, match="limit of 100"):
        load_image(path)
    assert load_image(path, max_pixels=1000).shape == (20, 30, 3)  # explicit wins
    monkeypatch.setenv("STYLJAX_MAX_PIXELS", "lots")
    with pytest.raises(StyljaxError, match="STYLJAX_MAX_PIXELS"):
        load_image(path)
    monkeypatch.delenv("STYLJAX_MAX_PIXELS")
    assert sim.default_max_pixels() == sim.DEFAULT_MAX_PIXELS


def test_decompression_bomb_warning_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_image(tmp_path / "bomb.png", np.zeros((30, 40, 3), np.float32))  # 1200 px
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # warns above 1000, errors above 2000
    filters_before = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # even when the caller ignores warnings
        with pytest.raises(StyljaxError, match=r"bomb\.png: .*decompression-bomb"):
            load_image(path, max_pixels=10**9)
    assert list(warnings.filters) == filters_before
    assert Image.MAX_IMAGE_PIXELS == 1000  # not mutated by load_image


def test_decompression_bomb_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_image(tmp_path / "bomb.png", np.zeros((50, 50, 3), np.float32))  # 2500 px
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(StyljaxError, match=r"bomb\.png: .*decompression-bomb"):
        load_image(path, max_pixels=10**9)


def test_pil_globals_untouched(tmp_path: Path, astro: np.ndarray) -> None:
    def state() -> tuple:
        return Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters)

    before = state()
    load_image(save_image(tmp_path / "a.png", astro), max_pixels=10**9)
    assert state() == before


# --------------------------------------------------------------------------------------------
# resizing on load
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "h,w,max_side,expected",
    [
        (100, 50, 10, (10, 5)),
        (50, 100, 10, (5, 10)),
        (50, 100, 200, (100, 200)),  # upscales
        (3, 1000, 10, (1, 10)),  # at least 1 px
        (64, 64, 32, (32, 32)),
        (30, 45, 20, (13, 20)),  # 13.33 -> 13
        (30, 45, 21, (14, 21)),  # 14.0
        (33, 20, 10, (10, 6)),  # 6.06 -> 6
    ],
)
def test_fit_max_side(h: int, w: int, max_side: int, expected: tuple[int, int]) -> None:
    assert fit_max_side(h, w, max_side) == expected


def test_fit_max_side_rejects_bad_input() -> None:
    with pytest.raises(StyljaxError):
        fit_max_side(10, 10, 0)
    with pytest.raises(StyljaxError):
        fit_max_side(0, 10, 5)


def test_load_with_max_side_and_size(tmp_path: Path, astro: np.ndarray) -> None:
    path = save_image(tmp_path / "a.png", astro[:, :96])  # 128x96
    assert load_image(path, max_side=64).shape == (64, 48, 3)
    assert load_image(path, max_side=256).shape == (256, 192, 3)
    y = load_image(path, size=(50, 70))
    assert y.shape == (50, 70, 3) and y.dtype == np.float32
    assert 0.0 <= y.min() and y.max() <= 1.0
    np.testing.assert_array_equal(load_image(path, size=(128, 96)), load_image(path))
    with pytest.raises(StyljaxError, match="not both"):
        load_image(path, max_side=64, size=(10, 10))
    with pytest.raises(StyljaxError, match="size"):
        load_image(path, size=(0, 10))


def test_load_min_side(tmp_path: Path) -> None:
    """Opt-in floor on both sides, as read (checked on the header) and as resized."""
    one = save_image(tmp_path / "one.png", np.full((1, 1, 3), 0.5))
    thin = save_image(tmp_path / "thin.png", np.full((20, 400, 3), 0.5))
    assert load_image(one).shape == (1, 1, 3)  # no floor unless asked
    with pytest.raises(StyljaxError, match=r"one.png: image is 1x1; at least 16 px on each side"):
        load_image(one, min_side=sim.MIN_SIDE, max_side=256)
    assert load_image(thin, min_side=16).shape == (20, 400, 3)
    with pytest.raises(StyljaxError, match=r"400x20 resized to 64x3 has a side under 16 px"):
        load_image(thin, min_side=16, max_side=64)
    with pytest.raises(StyljaxError, match=r"resized to 10x8"):
        load_image(thin, min_side=16, size=(8, 10))


def test_resize_keeps_float_precision_and_range(tmp_path: Path) -> None:
    # A flat 16-bit value that is not a multiple of 1/255 must survive resizing.
    flat = _png16(tmp_path / "flat.png", np.full((40, 40), 257, np.uint16))
    y = load_image(flat, size=(17, 23))
    np.testing.assert_allclose(y, 257 / 65535, rtol=1e-4)
    # LANCZOS overshoots on hard edges; the result is clipped to [0, 1].
    checker = ((np.indices((32, 32)).sum(0) // 4) % 2).astype(np.float32)
    z = load_image(save_image(tmp_path / "ck.png", checker), size=(45, 45))
    assert 0.0 <= z.min() and z.max() <= 1.0 and z.min() == 0.0 and z.max() == 1.0


def test_resize_downscale_is_antialiased(tmp_path: Path) -> None:
    stripes = np.tile(np.array([0.0, 1.0], np.float32), (64, 32))  # 1-px vertical stripes
    y = load_image(save_image(tmp_path / "s.png", stripes), size=(16, 16))
    # averaged, not aliased to 0 or 1 (the edge columns see the border, so skip them)
    np.testing.assert_allclose(y[:, 1:-1], 0.5, atol=0.02)
    assert np.abs(y - 0.5).max() < 0.1


# --------------------------------------------------------------------------------------------
# listing
# --------------------------------------------------------------------------------------------


def test_list_images_dir(tmp_path: Path) -> None:
    for name in ["b.PNG", "a.jpg", "frame10.png", "frame2.png", "c.JpEg", "d.webp", "e.GIF",
                 "f.tif", "g.tiff", "h.bmp", "notes.txt", ".hidden.png", "model.npy"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    names = [p.name for p in list_images(tmp_path)]
    assert names == ["a.jpg", "b.PNG", "c.JpEg", "d.webp", "e.GIF", "f.tif", "frame2.png",
                     "frame10.png", "g.tiff", "h.bmp"]
    assert all(isinstance(p, Path) and p.parent == tmp_path for p in list_images(tmp_path))


def test_list_images_file_empty_and_missing(tmp_path: Path) -> None:
    f = tmp_path / "one.jpg"
    f.write_bytes(b"x")
    assert list_images(f) == [f]
    assert list_images(str(f)) == [f]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StyljaxError, match=r"empty: no image files"):
        list_images(empty)
    (empty / "readme.txt").write_text("x")
    with pytest.raises(StyljaxError, match="no image files"):
        list_images(empty)
    with pytest.raises(StyljaxError, match="no such file"):
        list_images(tmp_path / "missing")


def test_load_images(tmp_path: Path, astro: np.ndarray, camera: np.ndarray) -> None:
    a = save_image(tmp_path / "a.png", astro)
    b = save_image(tmp_path / "b.png", camera[:64])
    ys = load_images(list_images(tmp_path), max_side=32)
    assert [y.shape for y in ys] == [(32, 32, 3), (16, 32, 3)]
    assert load_images([]) == []
    assert len(load_images([a, b])) == 2


# --------------------------------------------------------------------------------------------
# colour
# --------------------------------------------------------------------------------------------


def test_yuv_known_values() -> None:
    rgb = np.array([[1, 1, 1], [0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    yuv = rgb_to_yuv(rgb)
    assert isinstance(yuv, np.ndarray)
    np.testing.assert_allclose(yuv[:, 0], [1, 0, 0.299, 0.587, 0.114], atol=1e-6)
    np.testing.assert_allclose(yuv[:2, 1:], 0, atol=1e-6)  # greys have no chroma
    np.testing.assert_allclose(yuv[4, 1], 0.436, atol=1e-6)
    np.testing.assert_allclose(yuv[2, 2], 0.615, atol=1e-6)


def test_yuv_round_trip_numpy_and_jax(astro: np.ndarray) -> None:
    x = astro.astype(np.float32) / 255
    np.testing.assert_allclose(yuv_to_rgb(rgb_to_yuv(x)), x, atol=1e-5)
    batch = jnp.stack([jnp.asarray(x), 1 - jnp.asarray(x)])  # (2, H, W, 3)
    back = jax.jit(lambda b: yuv_to_rgb(rgb_to_yuv(b)))(batch)
    assert isinstance(back, jax.Array) and back.shape == (2, 128, 128, 3)
    np.testing.assert_allclose(np.asarray(back), np.asarray(batch), atol=1e-5)
    # batched result equals per-image result
    np.testing.assert_allclose(np.asarray(rgb_to_yuv(batch)[1]), rgb_to_yuv(1 - x), atol=1e-6)


def _mid(x: np.ndarray) -> np.ndarray:
    """Squash into [0.35, 0.65] so recombined colours never need clipping."""
    return (0.35 + 0.3 * x.astype(np.float32) / 255).astype(np.float32)


def test_preserve_colors(astro: np.ndarray, camera: np.ndarray) -> None:
    content = _mid(astro)
    stylized = _mid(np.stack([camera, camera[::-1], camera.T], axis=-1))
    out = preserve_colors(content, stylized)
    assert isinstance(out, jax.Array) and out.shape == content.shape
    raw = np.asarray(preserve_colors(content, stylized, clip=False))
    np.testing.assert_allclose(np.asarray(out), raw)  # nothing was clipped
    yuv_out, yuv_c, yuv_s = rgb_to_yuv(raw), rgb_to_yuv(content), rgb_to_yuv(stylized)
    np.testing.assert_allclose(yuv_out[..., 0], yuv_s[..., 0], atol=1e-5)
    np.testing.assert_allclose(yuv_out[..., 1:], yuv_c[..., 1:], atol=1e-5)
    # and it is really different from both inputs
    assert np.abs(raw - content).max() > 0.1 and np.abs(raw - stylized).max() > 0.05


def test_preserve_colors_jit_batch_and_alias(astro: np.ndarray) -> None:
    content = jnp.asarray(_mid(astro))[None].repeat(2, axis=0)
    grey = jnp.full((2, 128, 128, 3), 0.5)
    out = jax.jit(preserve_colors)(content, grey)
    assert out.shape == (2, 128, 128, 3)
    np.testing.assert_allclose(np.asarray(rgb_to_yuv(out))[..., 0], 0.5, atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(match_luminance(content, grey)), np.asarray(out), atol=1e-6
    )
    # clipping keeps the result in range even for extreme inputs
    wild = preserve_colors(np.eye(3)[None].repeat(4, 0), np.ones((4, 3, 3)))
    assert float(wild.min()) >= 0.0 and float(wild.max()) <= 1.0


def test_preserve_colors_resizes_content(astro: np.ndarray) -> None:
    content = _mid(astro)  # 128x128
    stylized = np.full((64, 32, 3), 0.5, np.float32)
    out = preserve_colors(content, stylized)
    assert out.shape == (64, 32, 3)
    # content without a batch axis broadcasts against a batch of stylized images
    assert preserve_colors(content, np.full((2, 128, 128, 3), 0.5)).shape == (2, 128, 128, 3)


# --------------------------------------------------------------------------------------------
# jax resize
# --------------------------------------------------------------------------------------------


def test_resize_shapes_and_jit() -> None:
    x = jnp.linspace(0, 1, 2 * 32 * 48 * 3).reshape(2, 32, 48, 3)
    assert resize(x, (16, 24)).shape == (2, 16, 24, 3)
    assert resize(x[0], (64, 96)).shape == (64, 96, 3)
    assert resize(x, (32, 48)) is not None and resize(x, (32, 48)).shape == x.shape
    assert resize(x[0], (10, 10), method="lanczos3").shape == (10, 10, 3)
    f = jax.jit(lambda a: resize(a, (8, 12)))
    assert f(x).shape == (2, 8, 12, 3)
    flat = jnp.full((20, 30, 3), 0.25)
    np.testing.assert_allclose(np.asarray(resize(flat, (7, 11))), 0.25, atol=1e-6)
    stripes = jnp.tile(jnp.array([0.0, 1.0]), (32, 16))[..., None]
    np.testing.assert_allclose(np.asarray(resize(stripes, (8, 8)))[:, 1:-1], 0.5, atol=0.02)
    with pytest.raises(StyljaxError):
        resize(jnp.zeros((4, 4)), (2, 2))
    with pytest.raises(StyljaxError):
        resize(x, (0, 4))


# --------------------------------------------------------------------------------------------
# contact sheets
# --------------------------------------------------------------------------------------------


def test_contact_sheet_shape_and_letterbox() -> None:
    a = np.zeros((10, 20, 3), np.float32)
    b = np.full((30, 8, 3), 0.5, np.float32)
    c = np.full((5, 5), 0.25, np.float32)  # greyscale accepted
    sheet = contact_sheet([a, b, c, a, b], ncols=3, pad=2, bg=1.0)
    cell_h, cell_w = 30, 20
    assert sheet.shape == (2 + 2 * (cell_h + 2), 2 + 3 * (cell_w + 2), 3)
    assert sheet.dtype == np.float32
    # a (10x20) is centred vertically in the first 30x20 cell
    top = 2 + (cell_h - 10) // 2
    assert (sheet[top : top + 10, 2:22] == 0).all()
    assert (sheet[2:top, 2:22] == 1).all()  # letterbox bands are bg
    # b (30x8) is centred horizontally in the second cell
    left = 2 + (cell_w + 2) + (cell_w - 8) // 2
    assert (sheet[2:32, left : left + 8] == 0.5).all()
    assert (sheet[2:32, left - 1] == 1).all()
    assert (sheet[0:2] == 1).all()  # outer padding


def test_contact_sheet_labels_and_errors() -> None:
    tiles = [np.full((16, 16, 3), 0.5, np.float32) for _ in range(3)]
    plain = contact_sheet(tiles, ncols=2)
    labelled = contact_sheet(tiles, ncols=2, labels=["one", "two", "three"])
    assert labelled.shape[1] == plain.shape[1]
    assert labelled.shape[0] > plain.shape[0]
    below = labelled[4 + 16 : 4 + 16 + (labelled.shape[0] - plain.shape[0]) // 2, 4 : 4 + 16]
    assert below.min() < 0.5  # dark text was drawn under the first tile
    assert contact_sheet(tiles, ncols=10).shape == (4 + 20, 4 + 3 * 20, 3)  # ncols capped
    with pytest.raises(StyljaxError):
        contact_sheet([], ncols=2)
    with pytest.raises(StyljaxError):
        contact_sheet(tiles, ncols=0)
    with pytest.raises(StyljaxError, match="labels"):
        contact_sheet(tiles, ncols=2, labels=["x"])


def test_resize_target_checked_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An upscale over the cap is refused on the header, before a pixel is decoded (issue #34:
    `--size 99999` used to allocate the resized image first)."""
    path = save_image(tmp_path / "small.png", np.zeros((20, 30, 3), np.float32))

    def no_decode(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    with pytest.raises(TooLarge, match=r"30x20 resized to 3000x2000 is 6,000,000 pixels, over the limit of 1,000,000 "
                                       r"pixels \(--max-pixels"):
        load_image(path, max_side=3000, max_pixels=1_000_000)
    with pytest.raises(TooLarge, match="resized to 2000x2000"):
        load_image(path, size=(2000, 2000), max_pixels=1_000_000)
    assert sim.header_size(path, max_side=60) == (40, 60)


def test_bomb_guard_message_quotes_max_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past PIL's guard (~89 MP, here lowered to 1000 px) with our cap below it, the message quotes
    the cap a user can change, not PIL's limit."""
    path = save_image(tmp_path / "big.png", np.zeros((50, 50, 3), np.float32))  # 2500 px
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(TooLarge) as e:
        load_image(path, max_pixels=500)
    assert str(e.value) == (f"{path}: image has 2,500 pixels, over the limit of 500 pixels "
                            "(--max-pixels or $STYLJAX_MAX_PIXELS raises it)")
    assert "1000" not in str(e.value)
