"""Video I/O for online video stylization: stream frames in, stream frames out.

Conventions (the same as :mod:`styljax.io.image`)
----------------------------------------------
* Frames are float32 RGB arrays of shape (H, W, 3) with values in [0, 1].
* Every bad-input case raises :class:`~styljax.errors.StyljaxError` with a one-line
  message ``"<path>: <reason>"``.
* Outputs are written atomically: a video or GIF is encoded into a hidden temporary file
  next to the target (keeping its suffix) and ``os.replace``-d into place on a successful
  close; if the writer is aborted (an exception in its ``with`` block) the temporary file is
  removed and the target is left untouched.

Reading (:func:`open_frames`) is lazy: one decoded frame is in memory at a time, whatever the
length of the video. Writing (:class:`FrameWriter`) streams frame by frame into MP4 / MOV /
MKV / WebM files and PNG-frame folders; a GIF has to be assembled at close, so its frames are
kept as palette-quantised 8-bit images (1 byte per pixel) until then.

Video files are read and written with PyAV (``av``, which bundles FFmpeg); GIFs are written
with Pillow.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image

from styljax.io import image as _image
from styljax.io import atomic
from styljax.errors import StyljaxError

__all__ = [
    "DEFAULT_FPS",
    "VIDEO_WRITE_EXTENSIONS",
    "FrameWriter",
    "VideoInfo",
    "check_output_path",
    "count_frames",
    "h264_encoder",
    "open_frames",
]

PathLike = str | os.PathLike[str]

DEFAULT_FPS = 25.0
"""Frame rate given to a folder of images (and to a video whose header has none)."""

# suffix -> (FFmpeg muxer, codec family)
_VIDEO_FORMATS = {
    ".mp4": ("mp4", "h264"),
    ".mov": ("mov", "h264"),
    ".mkv": ("matroska", "h264"),
    ".webm": ("webm", "vp9"),
}
VIDEO_WRITE_EXTENSIONS = frozenset({*_VIDEO_FORMATS, ".gif"})
"""Suffixes :class:`FrameWriter` writes as one file (anything suffix-less is a PNG folder)."""

# Image suffixes that open_frames refuses as "a single image" (a GIF may be animated).
_STILL_EXTENSIONS = _image.IMAGE_EXTENSIONS - {".gif"}

_FRAME_NAME = "frame_{:06d}.png"
_FRAME_RE = re.compile(r"frame_(\d{6,})\.png")

# BT.709, limited ("MPEG"/TV) range: how frames are converted to YUV and tagged, so that
# players and decoders (which read the tags) convert back with the same matrix.
_AVCOL_BT709 = 1
_AVCOL_RANGE_MPEG = 1


@functools.cache
def _av() -> ModuleType:
    """Import PyAV (deferred so that importing styljax.video.frame_io stays cheap)."""
    try:
        import av
    except ImportError as e:  # pragma: no cover - av is a hard dependency
        raise StyljaxError(f"video support needs PyAV: pip install 'av>=14' ({e})") from e
    return av


def _reason(e: BaseException) -> str:
    """A short reason from an FFmpeg/OS error (its strerror, without the file name)."""
    return str(getattr(e, "strerror", None) or e)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`open_frames` knows before decoding the whole input.

    ``height`` and ``width`` are those of the frames it yields (after resizing and after
    applying a rotation tag). ``n_frames`` is the number of frames it will yield when that is
    known from the header (after ``max_frames``), else None. ``fps`` is the average frame rate
    from the header (timestamps are otherwise ignored: variable-frame-rate input is treated as
    constant-rate), :data:`DEFAULT_FPS` for a folder of images.
    """

    n_frames: int | None
    fps: float
    height: int
    width: int
    source: str


def open_frames(
    path: PathLike,
    *,
    max_side: int | None = None,
    size: tuple[int, int] | None = None,
    max_frames: int | None = None,
    fps: float | None = None,
) -> tuple[VideoInfo, Iterator[np.ndarray]]:
    """Open a video or a folder of frames; return its info and a lazy iterator of frames.

    ``path`` is either a folder of images (its image files in natural order: ``frame2`` before
    ``frame10``) or any video file FFmpeg can read (.mp4, .mov, .avi, .mkv, .webm, .gif, ...).
    A single still image is an error. The first frame is decoded here (so a missing, empty or
    corrupt input fails now, with a one-line :class:`StyljaxError`), then the iterator decodes
    one frame per step; it closes the file when exhausted, when closed (``it.close()``), or
    when garbage-collected. A decoding error part-way raises StyljaxError from the iterator.

    * Frames are float32 RGB (H, W, 3) in [0, 1]; greyscale becomes RGB, alpha (GIF
      transparency, ...) is composited over white, and a rotation tag (phone videos) is
      applied, as ``ffmpeg`` does.
    * ``max_side`` scales so the longer side equals it (up or down, as
      :func:`styljax.io.image.load_image` does); ``size=(h, w)`` resizes exactly. Every frame
      of one input comes out at the size of the first: a folder image of another size (or a
      video whose resolution changes mid-stream) is resized to it, aspect ratio not kept.
    * ``max_frames`` stops after that many frames. ``fps`` overrides the reported frame rate
      (useful for folders, which default to :data:`DEFAULT_FPS`).
    """
    if max_side is not None and size is not None:
        raise StyljaxError(f"{path}: give max_side or size, not both")
    if size is not None:
        size = _image._check_size(size, path)
    if max_side is not None and (not isinstance(max_side, int) or max_side < 1):
        raise StyljaxError(f"{path}: max_side must be a positive integer, got {max_side!r}")
    if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 1):
        raise StyljaxError(f"{path}: max_frames must be a positive integer, got {max_frames!r}")
    if fps is not None:
        fps = _check_fps(fps, path)

    p = Path(path)
    if p.is_dir():
        return _open_folder(p, max_side=max_side, size=size, max_frames=max_frames, fps=fps)
    _check_video_file(p)
    return _open_video(p, max_side=max_side, size=size, max_frames=max_frames, fps=fps)


def count_frames(path: PathLike) -> int | None:
    """The number of frames in a folder of images or a video, if its header says; else None.

    Reads no pixels (for a video only the container header is parsed, so this is cheap).
    Some containers (MKV, WebM) do not store a frame count: None.
    """
    p = Path(path)
    if p.is_dir():
        return len(_image.list_images(p))
    _check_video_file(p)
    with _input_container(p) as container:
        stream = _video_stream(container, p)
        return int(stream.frames) or None


def _check_video_file(p: Path) -> None:
    if not p.exists():
        raise StyljaxError(f"{p}: no such file or directory")
    if p.suffix.lower() in _STILL_EXTENSIONS:
        raise StyljaxError(f"{p}: a single image, not a video; use `styljax stylize`")
    _image._check_file(p)  # not a regular file, empty, unreadable


def _out_size(
    hw: tuple[int, int], max_side: int | None, size: tuple[int, int] | None
) -> tuple[int, int]:
    if size is not None:
        return size
    if max_side is not None:
        return _image.fit_max_side(*hw, max_side)
    return hw


def _open_folder(
    p: Path,
    *,
    max_side: int | None,
    size: tuple[int, int] | None,
    max_frames: int | None,
    fps: float | None,
) -> tuple[VideoInfo, Iterator[np.ndarray]]:
    files = _image.list_images(p)[:max_frames]
    first = _image.load_image(files[0], max_side=max_side, size=size)
    hw = (int(first.shape[0]), int(first.shape[1]))
    info = VideoInfo(len(files), fps or DEFAULT_FPS, hw[0], hw[1], str(p))
    pending = [first]  # popped by the iterator, so it holds no second frame

    def frames() -> Iterator[np.ndarray]:
        yield pending.pop()
        for f in files[1:]:
            yield _image.load_image(f, size=hw)

    return info, frames()


@contextlib.contextmanager
def _input_container(p: Path) -> Iterator[Any]:
    """``av.open(p)`` as a context manager, with FFmpeg errors as one-line StyljaxErrors."""
    av = _av()
    try:
        container = av.open(str(p), mode="r")
    except av.FFmpegError as e:
        raise StyljaxError(f"{p}: not a readable video ({_reason(e)})") from e
    except OSError as e:
        raise StyljaxError(f"{p}: cannot read: {_reason(e)}") from e
    try:
        yield container
    finally:
        container.close()


def _video_stream(container: Any, p: Path) -> Any:
    if not container.streams.video:
        raise StyljaxError(f"{p}: no video stream")
    return container.streams.video[0]


def _header_fps(stream: Any) -> float | None:
    """The average frame rate from the header, or None.

    A GIF's per-frame delays are whole 1/100 s (30 fps is stored as 3,3,4,... cs) and
    FFmpeg's ``average_rate`` for it comes from the first delays only (100/3), so for GIF
    the rate is frames / duration instead.
    """
    if stream.codec_context.name == "gif" and stream.frames and stream.duration:
        seconds = float(stream.duration * stream.time_base)
        if seconds > 0:
            return stream.frames / seconds
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate and float(rate) > 0 else None


def _decoded(container: Any, stream: Any, p: Path) -> Iterator[np.ndarray]:
    """Decode ``stream`` frame by frame into float RGB arrays; errors -> StyljaxError."""
    av = _av()
    frames = container.decode(stream)
    while True:
        try:
            frame = next(frames)
            array = _frame_to_array(frame)
        except StopIteration:
            return
        except (av.FFmpegError, OSError) as e:
            raise StyljaxError(f"{p}: cannot decode video: {_reason(e)}") from e
        yield array


def _frame_to_array(frame: Any) -> np.ndarray:
    """An av.VideoFrame -> float32 RGB (H, W, 3) in [0, 1], alpha over white, rotation applied.

    The YUV -> RGB conversion follows the frame's colour tags (BT.601 when untagged).
    """
    fmt = frame.format
    components = fmt.components
    if fmt.has_palette or any(c.is_alpha for c in components):
        rgba = np.divide(frame.to_ndarray(format="rgba"), 255.0, dtype=np.float32)
        array = _image._composite_over_white(rgba)
    elif max(c.bits for c in components) > 8:
        array = np.divide(frame.to_ndarray(format="rgb48le"), 65535.0, dtype=np.float32)
    else:
        array = np.divide(frame.to_ndarray(format="rgb24"), 255.0, dtype=np.float32)
    try:
        quarter_turns = round(float(frame.rotation) / 90.0) % 4
    except (AttributeError, TypeError, ValueError):
        quarter_turns = 0
    if quarter_turns:  # `rotation` is counter-clockwise, as is np.rot90
        array = np.ascontiguousarray(np.rot90(array, quarter_turns))
    return array


def _open_video(
    p: Path,
    *,
    max_side: int | None,
    size: tuple[int, int] | None,
    max_frames: int | None,
    fps: float | None,
) -> tuple[VideoInfo, Iterator[np.ndarray]]:
    # Probe: header + first frame, then close. The iterator reopens the file when first
    # advanced, so a never-iterated iterator holds no open file.
    with _input_container(p) as container:
        stream = _video_stream(container, p)
        rate = _header_fps(stream)
        n_frames = int(stream.frames) or None
        decoded = _decoded(container, stream, p)
        try:
            first = next(decoded, None)
        finally:
            decoded.close()
    if first is None:
        raise StyljaxError(f"{p}: no decodable video frames")
    hw = _out_size((int(first.shape[0]), int(first.shape[1])), max_side, size)
    del first
    if n_frames is not None and max_frames is not None:
        n_frames = min(n_frames, max_frames)
    if fps is None:
        fps = rate or DEFAULT_FPS
    info = VideoInfo(n_frames, fps, hw[0], hw[1], str(p))

    def frames() -> Iterator[np.ndarray]:
        with _input_container(p) as container:
            stream = _video_stream(container, p)
            stream.thread_type = "AUTO"
            for i, array in enumerate(_decoded(container, stream, p)):
                if max_frames is not None and i >= max_frames:
                    return
                if array.shape[:2] != hw:
                    array = _image._resize_float(array, hw)
                yield array

    return info, frames()


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _output_kind(path: PathLike) -> str:
    """'video', 'gif' or 'folder' for an output path; StyljaxError for an unknown suffix."""
    raw = os.fspath(path)
    p = Path(path)
    if raw.endswith(("/", os.sep)) or p.is_dir() or not p.suffix:
        return "folder"
    suffix = p.suffix.lower()
    if suffix == ".gif":
        return "gif"
    if suffix in _VIDEO_FORMATS:
        return "video"
    known = ", ".join(sorted(VIDEO_WRITE_EXTENSIONS))
    raise StyljaxError(
        f"{p}: unknown video format {p.suffix!r} (use one of {known}, "
        "or a folder name for numbered PNG frames)"
    )


def check_output_path(path: PathLike) -> Path:
    """Fail early (before any long computation) if ``path`` cannot take a video.

    A path ending in .mp4/.mov/.mkv/.webm/.gif is a video file; a path with no suffix, ending
    in '/' or naming an existing folder is a folder of PNG frames.
    """
    kind = _output_kind(path)
    p = Path(path)
    if kind == "folder":
        if p.exists() and not p.is_dir():
            raise StyljaxError(f"{p}: exists and is not a folder (frames go into a folder)")
    elif p.is_dir():
        raise StyljaxError(f"{p}: is a directory")
    start = p if kind == "folder" else p.parent
    parent = next((q for q in (start, *start.parents) if q.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise StyljaxError(f"{p}: cannot write into {parent}")
    return p


def _check_fps(fps: Any, path: PathLike) -> float:
    try:
        value = float(fps)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise StyljaxError(f"{path}: fps must be a positive number, got {fps!r}")
    return value


@functools.cache
def _has_encoder(name: str) -> bool:
    av = _av()
    try:
        av.Codec(name, "w")
    except (av.FFmpegError, ValueError, KeyError):
        return False
    return True


def h264_encoder() -> str | None:
    """The H.264 encoder this PyAV build has ('libx264' normally), or None."""
    for name in ("libx264", "libopenh264"):
        if _has_encoder(name):
            return name
    return None


def _pick_codec(family: str, path: Path) -> str:
    candidates = {"h264": ("libx264", "libopenh264", "mpeg4"), "vp9": ("libvpx-vp9", "libvpx")}
    for name in candidates[family]:
        if _has_encoder(name):
            return name
    raise StyljaxError(f"{path}: this PyAV/FFmpeg build has no {family} encoder")


def _codec_options(codec: str, quality: int) -> dict[str, str]:
    """Map ``quality`` (1-100, higher is better) onto each encoder's quality knob."""
    loss = 100 - quality
    if codec == "libx264":  # CRF 0 (lossless) .. 51; quality 75 -> 13
        return {"crf": str(round(0.51 * loss)), "preset": "medium"}
    if codec in ("libvpx-vp9", "libvpx"):  # CRF 0 .. 63 in constant-quality mode
        crf = max(4, round(0.63 * loss)) if codec == "libvpx" else round(0.63 * loss)
        return {"crf": str(crf), "b:v": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}
    if codec == "mpeg4":  # fixed quantiser 2 .. 31; quality 75 -> 7
        q = str(min(31, max(2, round(2 + 0.2 * loss))))
        return {"qmin": q, "qmax": q}
    return {}


def _rate(fps: float) -> Fraction:
    """fps as a Fraction: 25 -> 25, 29.97002997 -> 30000/1001, 12.5 -> 25/2."""
    return Fraction(fps).limit_denominator(1001)


class _Abort(Exception):
    """Thrown into an ``atomic_path`` context to make it delete its temporary file."""


class FrameWriter:
    """Write frames one at a time to a video file, a GIF or a folder of PNG frames.

    ::

        with FrameWriter("out.mp4", fps=info.fps) as writer:
            for frame in frames:
                writer.write(stylize(frame))

    The output kind comes from ``out_path``:

    * ``.mp4`` / ``.mov`` / ``.mkv``: H.264 (libx264, yuv420p, BT.709 tags; MPEG-4 Part 2 if
      the FFmpeg build has no H.264 encoder), streamed frame by frame. H.264 4:2:0 needs even
      sizes, so an odd height or width is padded by one edge-replicated row/column (an odd
      45x61 clip is stored, and reads back, as 46x62). MP4/MOV get ``+faststart``.
    * ``.webm``: VP9 (libvpx-vp9), streamed; odd sizes are kept.
    * ``.gif``: Pillow, written at close. Each frame gets its own 256-colour palette (fast
      octree, no dithering); frames are held as palette images until close (1 byte/pixel).
      GIF delays are whole 1/100 s: per-frame delays are rounded so that the average rate
      matches ``fps`` (30 fps -> 3,3,4,3,3,4,... cs), but viewers play delays under 2/100 s
      slowly, so keep GIFs at <= 50 fps. Pillow merges consecutive identical frames into one
      longer frame, so a GIF can read back with fewer frames (and the same duration).
    * no suffix, a trailing '/', or an existing folder: numbered PNGs ``frame_000001.png``,
      ... (lossless), each written atomically. At a successful close, stale
      ``frame_NNNNNN.png`` files numbered past the last frame written (left by an earlier,
      longer run) are deleted, so the folder holds exactly this clip.

    Files are written atomically: video and GIF go to a hidden temporary file in the target
    folder that is renamed onto ``out_path`` by :meth:`close`; on an exception inside the
    ``with`` block (or :meth:`abort`) the temporary file is deleted and ``out_path`` is left
    as it was (a PNG folder keeps the frames written so far).

    Frames are float (H, W, 3), (H, W, 1) or (H, W) arrays in [0, 1] (numpy or jax; clipped
    and rounded to 8 bits; uint8 is taken as already quantised); all must have the size of the
    first. ``quality`` (1-100, higher is better; default 75) sets the encoder's quality (x264
    CRF = 0.51 * (100 - quality), so 75 -> CRF 13; VP9 CRF = 0.63 * (100 - quality)); it does
    not apply to GIF or PNG. ``codec`` overrides the encoder for video files (e.g. 'mpeg4').
    """

    def __init__(
        self,
        out_path: PathLike,
        fps: float,
        *,
        quality: int = 75,
        codec: str | None = None,
    ):
        self.path = check_output_path(out_path)
        self.kind = _output_kind(out_path)
        self.fps = _check_fps(fps, out_path)
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise StyljaxError(f"{self.path}: quality must be an integer 1..100, got {quality!r}")
        self.quality = quality
        self.codec: str | None = None  # the encoder in use, once the first frame is written
        if codec is not None:
            if self.kind != "video":
                raise StyljaxError(f"{self.path}: codec= applies to video files, not {self.kind}")
            if not _has_encoder(codec):
                raise StyljaxError(f"{self.path}: no {codec!r} encoder in this PyAV build")
        self._codec_request = codec
        self.n_frames = 0
        self._size: tuple[int, int] | None = None  # (h, w) of the frames written
        self._closed = False
        self._atomic: Any = None  # the entered atomic_path context (video files)
        self._container: Any = None
        self._stream: Any = None
        self._pad = (0, 0)
        self._gif_frames: list[Image.Image] = []

    # -- context manager ---------------------------------------------------------------------

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False

    def __del__(self) -> None:  # a writer dropped without close(): leave no temporary file
        try:
            if not self._closed:
                self.abort()
        except Exception:  # also at interpreter shutdown, when module globals are gone
            pass

    # -- writing -----------------------------------------------------------------------------

    def write(self, frame: Any) -> None:
        """Append one frame (float [0, 1] (H, W, 3) numpy or jax array)."""
        if self._closed:
            raise StyljaxError(f"{self.path}: write() after close()")
        array = self._to_rgb8(frame)
        try:
            if self.kind == "video":
                self._write_video(array)
            elif self.kind == "gif":
                self._gif_frames.append(
                    Image.fromarray(array).quantize(256, method=Image.Quantize.FASTOCTREE)
                )
            else:
                _image.save_image(self.path / _FRAME_NAME.format(self.n_frames + 1), array)
        except BaseException:
            self.abort()
            raise
        self.n_frames += 1

    def _to_rgb8(self, frame: Any) -> np.ndarray:
        try:
            array = _image._to_uint8(frame)
        except StyljaxError as e:
            raise StyljaxError(f"{self.path}: frame {self.n_frames + 1}: {e}") from e
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=-1)
        hw = (int(array.shape[0]), int(array.shape[1]))
        if self._size is None:
            self._size = hw
        elif hw != self._size:
            h, w = self._size
            raise StyljaxError(
                f"{self.path}: frame {self.n_frames + 1} is {hw[0]}x{hw[1]}, expected {h}x{w} "
                "(all frames of a video must have the same size)"
            )
        return np.ascontiguousarray(array)

    def _write_video(self, array: np.ndarray) -> None:
        av = _av()
        if self._container is None:
            self._start_video(array.shape[0], array.shape[1])
        if any(self._pad):
            array = np.pad(array, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        try:
            frame = av.VideoFrame.from_ndarray(array, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG"
            )
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as e:
            raise StyljaxError(
                f"{self.path}: cannot encode frame {self.n_frames + 1}: {_reason(e)}"
            ) from e

    def _start_video(self, h: int, w: int) -> None:
        av = _av()
        muxer, family = _VIDEO_FORMATS[self.path.suffix.lower()]
        codec = self._codec_request or _pick_codec(family, self.path)
        self._atomic = atomic.atomic_path(self.path)
        tmp = self._atomic.__enter__()  # a hidden temp file next to the target, same suffix
        try:
            options = {"movflags": "+faststart"} if muxer in ("mp4", "mov") else {}
            self._container = av.open(str(tmp), mode="w", format=muxer, options=options)
            stream = self._container.add_stream(codec, rate=_rate(self.fps))
            if codec in ("libx264", "libopenh264"):
                self._pad = (h % 2, w % 2)
            stream.height, stream.width = h + self._pad[0], w + self._pad[1]
            stream.pix_fmt = "yuv420p"
            stream.options = _codec_options(codec, self.quality)
            cc = stream.codec_context
            cc.colorspace = cc.color_primaries = cc.color_trc = _AVCOL_BT709
            cc.color_range = _AVCOL_RANGE_MPEG
            self._stream = stream
            self.codec = codec
        except (av.FFmpegError, OSError, ValueError) as e:
            raise StyljaxError(f"{self.path}: cannot start {codec} video: {_reason(e)}") from e

    # -- finishing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Finish the file and move it into place. Raises StyljaxError if no frame was written."""
        if self._closed:
            return
        if self.n_frames == 0:
            self.abort()
            raise StyljaxError(f"{self.path}: no frames written")
        try:
            if self.kind == "video":
                self._close_video()
            elif self.kind == "gif":
                self._close_gif()
            else:
                self._remove_stale_frames()
        except BaseException:
            self.abort()
            raise
        self._closed = True

    def _close_video(self) -> None:
        av = _av()
        try:
            for packet in self._stream.encode(None):  # flush the encoder
                self._container.mux(packet)
            self._container.close()
        except (av.FFmpegError, OSError) as e:
            raise StyljaxError(f"{self.path}: cannot finish video: {_reason(e)}") from e
        self._container = None
        atomic, self._atomic = self._atomic, None
        atomic.__exit__(None, None, None)  # os.replace(tmp, path)

    def _gif_durations(self) -> list[int]:
        """Per-frame delays in ms, whole centiseconds, averaging 1/fps (>= 1 cs each)."""
        ends = [round((i + 1) * 100 / self.fps) for i in range(self.n_frames)]
        return [max(1, end - start) * 10 for start, end in zip([0, *ends[:-1]], ends, strict=True)]

    def _close_gif(self) -> None:
        frames, self._gif_frames = self._gif_frames, []
        with atomic.atomic_path(self.path) as tmp:
            frames[0].save(
                tmp,
                format="GIF",
                save_all=True,
                append_images=frames[1:],
                loop=0,
                duration=self._gif_durations(),
            )

    def _remove_stale_frames(self) -> None:
        for entry in self.path.iterdir():
            m = _FRAME_RE.fullmatch(entry.name)
            if m and int(m.group(1)) > self.n_frames and entry.is_file():
                entry.unlink(missing_ok=True)

    def abort(self) -> None:
        """Give up: delete the temporary file (the target is left as it was)."""
        self._closed = True
        self._gif_frames = []
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(Exception):
                container.close()
        atomic, self._atomic = self._atomic, None
        if atomic is not None:
            with contextlib.suppress(_Abort, StyljaxError):
                atomic.__exit__(_Abort, _Abort(), None)  # unlinks the temporary file
