"""Image files: bounded, hardened decoding, folder listing and atomic saving.

Conventions
-----------
* Images are float32 RGB arrays of shape (H, W, 3) with values in [0, 1].
* Every bad-input case raises :class:`~styljax.errors.StyljaxError` with a one-line
  message ``"<path>: <reason>"``.
* Transparent images are composited over **white** (a fully transparent pixel loads as 1.0).
* Files are written atomically: into a temporary file in the target directory, then
  ``os.replace``-d into place, so readers never see a half-written file.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import stat
import struct
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from styljax.errors import StyljaxError, TooLarge
from styljax.io.atomic import atomic_path

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS_ENV",
    "MIN_SIDE",
    "check_pixels",
    "decode_bounded",
    "default_max_pixels",
    "fit_max_side",
    "header_size",
    "list_images",
    "load_image",
    "load_images",
    "save_image",
]

PathLike = str | os.PathLike[str]

DEFAULT_MAX_PIXELS = 64_000_000
"""Default pixel cap for :func:`load_image` (overridden by ``$STYLJAX_MAX_PIXELS``)."""

MAX_PIXELS_ENV = "STYLJAX_MAX_PIXELS"

MIN_SIDE = 16
"""The smallest side, px, the programs accept for a photo (``load_image(min_side=MIN_SIDE)``), as
read and as resized: the feed-forward nets work at 1/4 resolution and VGG's deepest layers at
1/16, so a smaller image has next to nothing to stylize (a 1x1 photo comes out a flat colour).
The same floor as ``--size`` and the HTTP service."""

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"})
"""Suffixes (lower case) that :func:`list_images` treats as images."""

_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})

# Exceptions PIL decoders raise on corrupt or truncated data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def default_max_pixels() -> int:
    """The pixel cap used when ``max_pixels`` is not given: ``$STYLJAX_MAX_PIXELS`` or 64 MP."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise StyljaxError(f"{MAX_PIXELS_ENV}: expected a positive integer, got {raw!r}")
    return value


def fit_max_side(h: int, w: int, max_side: int) -> tuple[int, int]:
    """Scale (h, w) so the longer side equals ``max_side``, keeping aspect (each side >= 1)."""
    if h < 1 or w < 1:
        raise StyljaxError(f"image size must be positive, got {h}x{w}")
    if max_side < 1:
        raise StyljaxError(f"max_side must be a positive integer, got {max_side}")
    longer = max(h, w)

    def scale(n: int) -> int:
        return max(1, math.floor(n * max_side / longer + 0.5))

    return (max_side, scale(w)) if h >= w else (scale(h), max_side)


def load_image(
    path: PathLike,
    *,
    max_side: int | None = None,
    size: tuple[int, int] | None = None,
    max_pixels: int | None = None,
    min_side: int | None = None,
) -> np.ndarray:
    """Load an image file as float32 RGB (H, W, 3) in [0, 1].

    * EXIF orientation is applied (a corrupt EXIF block is ignored).
    * Greyscale, bilevel, palette, CMYK, YCbCr, 16-bit greyscale (scaled by 65535) and
      float ('F', clipped to [0, 1]) images become RGB. Alpha is composited over white.
      16-bit RGB PNGs load at PIL's 8-bit precision (PIL cannot keep the low bits).
    * ``max_side`` scales so the longer side equals it; ``size=(h, w)`` resizes exactly.
      Resizing is PIL LANCZOS (antialiased) on each channel in float mode 'F', so no
      precision is lost to 8-bit rounding; the result is clipped to [0, 1].
    * ``max_pixels`` (default :func:`default_max_pixels`) is checked against the header
      before any pixel is decoded, and against the size ``max_side``/``size`` resize it to (an
      upscale can need far more memory than the file). PIL's own decompression-bomb guard
      (``Image.MAX_IMAGE_PIXELS``) stays on and its warning is an error here; to load
      more pixels than that, the caller must raise ``Image.MAX_IMAGE_PIXELS`` itself.
    * ``min_side`` (default: no floor; the programs pass :data:`MIN_SIDE`) refuses images with a
      side under it, checked on the header before decoding and again on the resized size.
    """
    if max_side is not None and size is not None:
        raise StyljaxError(f"{path}: give max_side or size, not both")
    cap = default_max_pixels() if max_pixels is None else max_pixels
    if cap <= 0:
        raise StyljaxError(f"max_pixels must be positive, got {cap}")
    path = Path(path)
    _check_file(path)
    array = _read_pixels(path, cap, min_side, max_side=max_side, size=size)
    target = None
    if size is not None:
        target = _check_size(size, path)
    elif max_side is not None:
        target = fit_max_side(*array.shape[:2], max_side)
    if target is not None:
        if min_side is not None and min(target) < min_side:
            h, w = array.shape[:2]
            raise StyljaxError(
                f"{path}: {w}x{h} resized to {target[1]}x{target[0]} has a side under {min_side} px "
                f"(the minimum: smaller images have too little to stylize)"
            )
        array = _resize_float(array, target)
    return array


def load_images(paths: Iterable[PathLike], **kwargs: Any) -> list[np.ndarray]:
    """Load several images with the same :func:`load_image` options."""
    return [load_image(p, **kwargs) for p in paths]


def list_images(path_or_dir: PathLike) -> list[Path]:
    """A file gives ``[file]``; a directory gives its image files in natural-sorted order.

    Only the directory's own entries are listed (not subdirectories); hidden files (names
    starting with '.', e.g. in-progress atomic writes) are skipped. Extensions are matched
    case-insensitively against :data:`IMAGE_EXTENSIONS`.
    """
    path = Path(path_or_dir)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise StyljaxError(f"{path}: no such file or directory")
    try:
        entries = list(path.iterdir())
    except OSError as e:
        raise StyljaxError(f"{path}: cannot list directory: {e.strerror or e}") from e
    images = [
        p
        for p in entries
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    ]
    if not images:
        exts = " ".join(sorted(IMAGE_EXTENSIONS))
        raise StyljaxError(f"{path}: no image files ({exts}) in directory")
    return sorted(images, key=_natural_key)


def _natural_key(path: Path) -> list[Any]:
    """Sort key so that 'frame2' < 'frame10'."""
    parts = re.split(r"(\d+)", path.name)
    return [(0, int(s), s) if s.isdigit() else (1, s, s) for s in parts]


def _check_file(path: Path) -> None:
    """Raise a StyljaxError if ``path`` is missing, a directory, unreadable or empty."""
    try:
        st = path.stat()
    except FileNotFoundError as e:
        raise StyljaxError(f"{path}: no such file") from e
    except PermissionError as e:
        raise StyljaxError(f"{path}: permission denied") from e
    except OSError as e:
        raise StyljaxError(f"{path}: cannot read: {e.strerror or e}") from e
    if stat.S_ISDIR(st.st_mode):
        raise StyljaxError(f"{path}: is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise StyljaxError(f"{path}: not a regular file")
    if st.st_size == 0:
        raise StyljaxError(f"{path}: empty file (0 bytes)")


@contextlib.contextmanager
def _strict_pil() -> Iterator[None]:
    """Make PIL's decompression-bomb warning an error and refuse truncated images.

    ``warnings.catch_warnings`` edits the process-wide filter list for the duration (the
    stdlib way; restored on exit). ``ImageFile.LOAD_TRUNCATED_IMAGES`` is only touched if
    someone else set it to True: it is then forced to False while decoding and restored.
    """
    lenient = ImageFile.LOAD_TRUNCATED_IMAGES
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        if lenient:
            ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            if lenient:
                ImageFile.LOAD_TRUNCATED_IMAGES = lenient


def _over_cap(max_pixels: int) -> str:
    """The end of every over-the-limit message: the limit and the two ways to raise it."""
    return f"over the limit of {max_pixels:,} pixels (--max-pixels or ${MAX_PIXELS_ENV} raises it)"


def _bomb(path: Path, e: Exception, max_pixels: int) -> TooLarge:
    """PIL's decompression-bomb guard fired on opening ``path``. It fires above
    ``Image.MAX_IMAGE_PIXELS`` (~89 MP): when our own cap is lower, the image is over that cap too,
    and the message quotes the cap the user can change rather than PIL's."""
    guard = Image.MAX_IMAGE_PIXELS
    if guard is not None and max_pixels <= guard:
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"has {int(found.group(1)):,} pixels" if found else "has too many pixels"
        return TooLarge(f"{path}: image {size}, {_over_cap(max_pixels)}")
    return TooLarge(f"{path}: refused by PIL's decompression-bomb guard: {e}")


def _target_size(hw: tuple[int, int], max_side: int | None, size: Sequence[int] | None, path: Any) -> tuple[int, int] | None:
    """The (h, w) an image of ``hw`` is resized to by ``size`` or ``max_side`` (None: kept)."""
    if size is not None:
        return _check_size(size, path)
    if max_side is not None:
        return fit_max_side(*hw, max_side)
    return None


def check_pixels(path: Any, hw: tuple[int, int], max_pixels: int, max_side: int | None = None,
                 size: Sequence[int] | None = None) -> None:
    """A one-line :class:`~styljax.errors.TooLarge` if an image of ``hw`` = (h, w), or the size
    ``max_side``/``size`` resize it to, has more than ``max_pixels`` pixels."""
    h, w = hw
    if w * h > max_pixels:
        raise TooLarge(f"{path}: image is {w}x{h} ({w * h:,} pixels), {_over_cap(max_pixels)}")
    target = _target_size(hw, max_side, size, path)
    if target is not None and target[0] * target[1] > max_pixels:
        th, tw = target
        raise TooLarge(f"{path}: {w}x{h} resized to {tw}x{th} is {tw * th:,} pixels, {_over_cap(max_pixels)}; "
                       "give a smaller --size")


@contextlib.contextmanager
def _open(path: Path, max_pixels: int) -> Iterator[Image.Image]:
    """``path`` opened by PIL (header only, bomb warnings as errors), open errors as one line."""
    with _strict_pil():
        try:
            img = Image.open(path)
        except FileNotFoundError as e:
            raise StyljaxError(f"{path}: no such file") from e
        except PermissionError as e:
            raise StyljaxError(f"{path}: permission denied") from e
        except IsADirectoryError as e:
            raise StyljaxError(f"{path}: is a directory, not an image file") from e
        except UnidentifiedImageError as e:
            raise StyljaxError(f"{path}: not an image (or an unsupported format)") from e
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise _bomb(path, e, max_pixels) from e
        except _DECODE_ERRORS as e:
            raise StyljaxError(f"{path}: cannot read image: {e}") from e
        with img:
            yield img


def header_size(path: PathLike, *, max_pixels: int | None = None, min_side: int | None = None,
                max_side: int | None = None, size: Sequence[int] | None = None) -> tuple[int, int]:
    """The (h, w) :func:`load_image` with these options would return, up to a quarter turn (EXIF
    orientation is not read: a PNG's may sit after its pixels), from the header alone (no pixel
    decoded), with the same one-line errors: missing or unreadable file, not an image, over
    ``max_pixels`` as read or as resized, a side under ``min_side``. A program checks every input
    with it before any work."""
    cap = default_max_pixels() if max_pixels is None else max_pixels
    path = Path(path)
    _check_file(path)
    with _open(path, cap) as img:
        w, h = img.size
        _check_header(path, img, cap, min_side, max_side, size)
    return _target_size((h, w), max_side, size, path) or (h, w)


def _check_header(path: Path, img: Image.Image, max_pixels: int, min_side: int | None,
                  max_side: int | None, size: Sequence[int] | None) -> None:
    w, h = img.size
    check_pixels(path, (h, w), max_pixels, max_side, size)
    if min_side is not None and min(w, h) < min_side:
        raise StyljaxError(
            f"{path}: image is {w}x{h}; at least {min_side} px on each side needed "
            f"(smaller images have too little to stylize)"
        )


def _read_pixels(path: Path, max_pixels: int, min_side: int | None = None, max_side: int | None = None,
                 size: Sequence[int] | None = None) -> np.ndarray:
    """Open ``path``, check its header size (as read, and as ``max_side``/``size`` resize it)
    against ``max_pixels`` and ``min_side``, decode, orient, -> RGB."""
    with _open(path, max_pixels) as img:
        _check_header(path, img, max_pixels, min_side, max_side, size)
        try:
            img.load()  # still under `_open`'s strict PIL settings
        except Image.DecompressionBombWarning as e:
            raise _bomb(path, e, max_pixels) from e
        except _DECODE_ERRORS as e:
            raise StyljaxError(f"{path}: corrupt or truncated image: {e}") from e
        return _to_float_rgb(_apply_exif_orientation(img), path)


_ORIENT = {  # EXIF orientation -> the transposition that shows the image upright (as ImageOps.exif_transpose)
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_REDUCIBLE_MODES = frozenset({"L", "LA", "La", "RGB", "RGBA", "RGBa", "RGBX", "I", "F", "CMYK", "YCbCr"})


def decode_bounded(
    source: Any,
    *,
    what: str = "image",
    max_pixels: int | None = None,
    max_side: int | None = None,
    limit_side: int | None = None,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode an untrusted image (a binary file object or bytes) as float32 RGB (H, W, 3) in [0, 1]
    with bounded memory (the HTTP service's uploads).

    * The header's pixel count is checked against ``max_pixels`` before anything is decoded, and
      PIL's decompression-bomb guard is caught: both raise :class:`~styljax.errors.TooLarge`.
    * ``max_side`` scales so the longer side equals it, ``limit_side`` only shrinks to it,
      ``size=(h, w)`` resizes exactly (as :func:`load_image`, EXIF orientation applied).
    * Memory: a JPEG is decoded at a reduced DCT scale (1/2 .. 1/8) when ≥ 2× the result remains;
      any image is then box-reduced by an integer factor in its own 8/16-bit mode while ≥ 2× the
      result remains, and only that is converted to float and LANCZOS-resized (as
      :func:`load_image`). The float arrays are thus at most ~16× the result, never the upload's
      full size (a 24 MP upload costs its 8-bit pixels once, not 12 bytes a pixel).
    Errors are one-line ``StyljaxError``s naming ``what``.
    """
    cap = default_max_pixels() if max_pixels is None else max_pixels
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(source)
    try:
        img = Image.open(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise TooLarge(f"{what}: refused as a decompression bomb ({e})") from None
    except (UnidentifiedImageError,) + _DECODE_ERRORS:
        raise StyljaxError(f"{what}: not a readable image") from None
    with img:
        w, h = img.size
        if w < 1 or h < 1:
            raise StyljaxError(f"{what}: image size must be positive, got {w}x{h}")
        if w * h > cap:
            raise TooLarge(f"{what}: image is {w}x{h} ({w * h} pixels), over the limit of {cap} pixels")
        orientation = _exif_orientation(img)
        swap = orientation in (5, 6, 7, 8)  # a quarter turn: the stored image is W×H as shown
        shown = (w, h) if swap else (h, w)
        if size is not None:
            target = _check_size(size, what)
        elif max_side is not None:
            target = fit_max_side(*shown, max_side)
        elif limit_side is not None and max(shown) > limit_side:
            target = fit_max_side(*shown, limit_side)
        else:
            target = shown
        stored = (target[1], target[0]) if swap else target  # (h, w) of the stored image at the result's scale
        if img.format == "JPEG" and stored != (h, w):
            img.draft(img.mode, (2 * stored[1], 2 * stored[0]))  # libjpeg's DCT scaling, ≥ 2× the result
        try:
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise TooLarge(f"{what}: refused as a decompression bomb ({e})") from None
        except _DECODE_ERRORS as e:
            raise StyljaxError(f"{what}: corrupt or truncated image ({e})") from None
        k = min(img.size[0] // (2 * stored[1]), img.size[1] // (2 * stored[0]))
        small = _reducible(img).reduce(k) if k >= 2 else img
        if orientation in _ORIENT:
            small = small.transpose(_ORIENT[orientation])
        array = _to_float_rgb(small, Path(what))
        if small is not img:
            small.close()
    return _resize_float(array, target)


def _exif_orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1))
    except _DECODE_ERRORS + (KeyError, AttributeError):
        return 1


def _reducible(img: Image.Image) -> Image.Image:
    """`img` in a mode `Image.reduce` averages correctly (palette → RGB(A), bilevel → L, 16-bit → I)."""
    mode = img.mode
    if mode in _REDUCIBLE_MODES:
        return img
    if mode == "1":
        return img.convert("L")
    if mode in _SIXTEEN_BIT_MODES:
        return img.convert("I")
    alpha = mode in _ALPHA_MODES or "transparency" in img.info
    return _convert(img, "RGBA" if alpha else "RGB")


def _apply_exif_orientation(img: Image.Image) -> Image.Image:
    """Rotate/flip per the EXIF orientation tag; a broken EXIF block is ignored."""
    try:
        return ImageOps.exif_transpose(img)
    except _DECODE_ERRORS + (KeyError, AttributeError):
        return img


def _to_float_rgb(img: Image.Image, path: Path) -> np.ndarray:
    """Convert a decoded PIL image of any supported mode to float32 RGB in [0, 1]."""
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        grey = np.asarray(img).astype(np.float32) / 65535.0
        return _grey_to_rgb(np.clip(grey, 0.0, 1.0))
    if mode == "F":
        grey = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0)
        return _grey_to_rgb(np.clip(grey, 0.0, 1.0))
    try:
        if mode in _ALPHA_MODES or "transparency" in img.info:
            rgba = _convert(img, "RGBA")
            return _composite_over_white(np.asarray(rgba, dtype=np.float32) / 255.0)
        return np.asarray(_convert(img, "RGB"), dtype=np.float32) / 255.0
    except ValueError as e:
        raise StyljaxError(f"{path}: unsupported image mode {mode!r}") from e


def _convert(img: Image.Image, mode: str) -> Image.Image:
    """``img.convert(mode)``, going through 'LA' for premultiplied 'La'."""
    if img.mode == "La":
        img = img.convert("LA")
    return img.convert(mode)


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=-1).astype(np.float32, copy=False)


def _composite_over_white(rgba: np.ndarray) -> np.ndarray:
    rgb, alpha = rgba[..., :3], rgba[..., 3:]
    return (rgb * alpha + (1.0 - alpha)).astype(np.float32)


def _check_size(size: Sequence[int], path: PathLike) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError) as e:
        raise StyljaxError(f"{path}: size must be (height, width), got {size!r}") from e
    if h < 1 or w < 1:
        raise StyljaxError(f"{path}: size must be positive, got {h}x{w}")
    return h, w


def _resize_float(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """LANCZOS-resize float (H, W, C) to ``size=(h, w)``, channel by channel in mode 'F'."""
    h, w = size
    if array.shape[:2] == (h, w):
        return array
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(array[..., c])).resize(
                (w, h), Image.Resampling.LANCZOS
            ),
            dtype=np.float32,
        )
        for c in range(array.shape[-1])
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _to_uint8(image: Any) -> np.ndarray:
    """float [0, 1] (H, W), (H, W, 1) or (H, W, 3) -> uint8 (H, W) or (H, W, 3).

    uint8 input is taken as already quantised.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 3)) or 0 in array.shape:
        raise StyljaxError(
            f"image must have shape (H, W), (H, W, 1) or (H, W, 3), got {array.shape}"
        )
    if array.dtype == np.uint8:
        return array
    array = np.nan_to_num(array.astype(np.float32), nan=0.0)
    return np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)


def check_output_path(path: PathLike) -> Path:
    """Fail early (before any long computation) if `path` cannot take an image."""
    path = Path(path)
    if path.suffix.lower() not in _SAVE_FORMATS:
        known = ", ".join(sorted(_SAVE_FORMATS))
        raise StyljaxError(f"{path}: unknown image format {path.suffix!r} (use one of {known})")
    if path.is_dir():
        raise StyljaxError(f"{path}: is a directory")
    parent = next((p for p in (path.parent, *path.parent.parents) if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise StyljaxError(f"{path}: cannot write into {parent}")
    return path


def save_image(path: PathLike, image: Any, *, quality: int = 95) -> Path:
    """Save a float [0, 1] image (numpy or jax) atomically; the format comes from the suffix.

    Supported suffixes: .png, .jpg/.jpeg, .webp, .bmp. Values are clipped and rounded to
    8 bits. ``quality`` (1-100) applies to JPEG (saved without chroma subsampling) and WebP.
    Returns the Path written.
    """
    path = Path(path)
    fmt = _SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(_SAVE_FORMATS))
        raise StyljaxError(f"{path}: unknown image format {path.suffix!r} (use one of {known})")
    if not 1 <= int(quality) <= 100:
        raise StyljaxError(f"{path}: quality must be in 1..100, got {quality}")
    pil = Image.fromarray(_to_uint8(image))
    options: dict[str, Any] = {}
    if fmt == "JPEG":
        options = {"quality": int(quality), "subsampling": 0}
    elif fmt == "WEBP":
        options = {"quality": int(quality)}
    with atomic_path(path) as tmp:
        pil.save(tmp, format=fmt, **options)
    return path
