"""Tests for styljax.video.frame_io: open_frames / FrameWriter round trips, resizing, errors, atomicity."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from styljax.video import frame_io as sv
from styljax.errors import StyljaxError
from styljax.video.frame_io import FrameWriter, VideoInfo, count_frames, open_frames

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def gradient_clip(n: int = 12, h: int = 48, w: int = 64) -> list[np.ndarray]:
    """A smooth, moving colour gradient: float32 (h, w, 3) frames in [0, 1], all different."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(n):
        r = 0.5 + 0.4 * np.sin(2 * np.pi * (x / w + i / n))
        g = 0.1 + 0.8 * y / (h - 1)
        b = 0.5 + 0.3 * np.cos(2 * np.pi * (x + y) / (w + h) + 0.5 * i)
        frames.append(np.stack([r, g, b], axis=-1).astype(np.float32))
    return frames


def write_clip(path: Path, frames, fps: float = 25.0, **kwargs) -> FrameWriter:
    with FrameWriter(path, fps, **kwargs) as writer:
        for f in frames:
            writer.write(f)
    return writer


def read_all(path, **kwargs) -> tuple[VideoInfo, list[np.ndarray]]:
    info, it = open_frames(path, **kwargs)
    return info, list(it)


def mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def assert_matches_in_order(got: list[np.ndarray], src: list[np.ndarray], tol: float) -> None:
    """Each decoded frame is within ``tol`` of its source and closer to it than to others."""
    assert len(got) == len(src)
    for i, g in enumerate(got):
        errors = [mae(g, s) for s in src]
        assert errors[i] < tol, (i, errors[i])
        assert int(np.argmin(errors)) == i, (i, errors)


def only_entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# --------------------------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".webm"])
def test_video_file_round_trip(tmp_path: Path, suffix: str) -> None:
    src = gradient_clip()
    out = tmp_path / f"clip{suffix}"
    writer = write_clip(out, src, fps=25)
    assert writer.n_frames == 12 and writer.codec
    assert only_entries(tmp_path) == [out.name]  # no temporary file left behind

    info, got = read_all(out)
    assert (info.height, info.width) == (48, 64)
    assert info.fps == pytest.approx(25.0, abs=0.01)
    assert info.n_frames in (12, None)  # MKV/WebM headers carry no frame count
    assert info.source == str(out)
    assert all(g.shape == (48, 64, 3) and g.dtype == np.float32 for g in got)
    assert all(g.min() >= 0.0 and g.max() <= 1.0 for g in got)
    assert_matches_in_order(got, src, tol=0.05)  # lossy, but a smooth image survives well


def test_mp4_frame_count_and_encoder(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    writer = write_clip(out, gradient_clip())
    assert writer.codec == sv.h264_encoder() == "libx264"
    assert count_frames(out) == 12
    assert open_frames(out)[0].n_frames == 12
    with av.open(str(out)) as c:  # tagged BT.709 limited range, as converted
        cc = c.streams.video[0].codec_context
        assert (cc.colorspace, cc.color_range) == (1, 1)


def test_gif_round_trip(tmp_path: Path) -> None:
    src = gradient_clip()
    out = tmp_path / "clip.gif"
    write_clip(out, src, fps=25)
    assert only_entries(tmp_path) == ["clip.gif"]
    with Image.open(out) as im:
        assert im.n_frames == 12 and im.info["loop"] == 0 and im.info["duration"] == 40
    info, got = read_all(out)
    assert info.fps == pytest.approx(25.0, abs=0.01)
    assert [g.shape for g in got] == [(48, 64, 3)] * 12
    assert_matches_in_order(got, src, tol=0.035)  # 256-colour palette per frame (~6/255)


def test_gif_delays_average_to_fps(tmp_path: Path) -> None:
    """GIF delays are whole centiseconds; 30 fps must not become 33.3 fps."""
    out = tmp_path / "clip.gif"
    write_clip(out, gradient_clip(30, 16, 16), fps=30)
    with Image.open(out) as im:
        delays = []
        for i in range(im.n_frames):
            im.seek(i)
            delays.append(im.info["duration"])
    assert set(delays) <= {30, 40} and sum(delays) == 1000
    assert open_frames(out)[0].fps == pytest.approx(30.0, abs=0.05)


def test_png_folder_round_trip_is_exact(tmp_path: Path) -> None:
    src = gradient_clip()
    out = tmp_path / "frames"
    write_clip(out, src)
    names = only_entries(out)
    assert names == [f"frame_{i:06d}.png" for i in range(1, 13)]
    info, got = read_all(out)
    assert info == VideoInfo(12, 25.0, 48, 64, str(out))
    for g, s in zip(got, src, strict=True):
        assert np.abs(g - s).max() <= 0.5 / 255 + 1e-6


def test_folder_output_spellings(tmp_path: Path) -> None:
    frame = gradient_clip(1)[0]
    write_clip(f"{tmp_path}/slash/", [frame, frame])
    (tmp_path / "existing.d").mkdir()
    write_clip(tmp_path / "existing.d", [frame])
    assert only_entries(tmp_path / "slash") == ["frame_000001.png", "frame_000002.png"]
    assert only_entries(tmp_path / "existing.d") == ["frame_000001.png"]
    # a shorter re-run leaves exactly its own frames
    write_clip(tmp_path / "slash", [frame])
    assert only_entries(tmp_path / "slash") == ["frame_000001.png"]


def test_odd_size_mp4_is_padded_to_even(tmp_path: Path) -> None:
    src = gradient_clip(6, 45, 61)
    out = tmp_path / "odd.mp4"
    write_clip(out, src)
    info, got = read_all(out)
    assert (info.height, info.width) == (46, 62) and got[0].shape == (46, 62, 3)
    assert_matches_in_order([g[:45, :61] for g in got], src, tol=0.05)
    # the padding replicates the edge
    assert mae(got[0][45], got[0][44]) < 0.05


def test_odd_size_webm_and_gif_keep_size(tmp_path: Path) -> None:
    src = gradient_clip(4, 45, 61)
    for name in ("odd.webm", "odd.gif"):
        write_clip(tmp_path / name, src)
        info, got = read_all(tmp_path / name)
        assert (info.height, info.width) == (45, 61) and got[0].shape == (45, 61, 3)


def test_ntsc_frame_rate(tmp_path: Path) -> None:
    out = tmp_path / "ntsc.mp4"
    write_clip(out, gradient_clip(4, 16, 16), fps=30000 / 1001)
    assert open_frames(out)[0].fps == pytest.approx(30000 / 1001, abs=1e-3)
    assert sv._rate(12.5) == Fraction(25, 2) and sv._rate(25.0) == 25


def test_writer_accepts_jax_grey_and_uint8_frames(tmp_path: Path) -> None:
    frame = gradient_clip(1, 16, 16)[0]
    grey = frame.mean(-1)
    u8 = np.rint(frame * 255).astype(np.uint8)
    write_clip(tmp_path / "f", [jnp.asarray(frame), grey, grey[..., None], u8, frame * 2 - 0.5])
    got = read_all(tmp_path / "f")[1]
    assert np.abs(got[0] - frame).max() <= 0.5 / 255 + 1e-6
    assert np.abs(got[1] - grey[..., None]).max() <= 0.5 / 255 + 1e-6
    assert np.array_equal(got[1], got[2])
    assert np.array_equal(np.rint(got[3] * 255).astype(np.uint8), u8)
    assert got[4].min() == 0.0 and got[4].max() == 1.0  # clipped


# --------------------------------------------------------------------------------------------
# resizing and truncation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["clip.mp4", "frames"])
def test_resizing(tmp_path: Path, kind: str) -> None:
    out = tmp_path / kind
    write_clip(out, gradient_clip(3))
    for kwargs, hw in [
        ({"max_side": 32}, (24, 32)),
        ({"max_side": 128}, (96, 128)),  # like load_image: the longer side becomes max_side
        ({"size": (20, 30)}, (20, 30)),
    ]:
        info, got = read_all(out, **kwargs)
        assert (info.height, info.width) == hw, kwargs
        assert [g.shape for g in got] == [(*hw, 3)] * 3, kwargs
    small = read_all(out, max_side=32)[1][0]
    ref = (
        np.asarray(
            Image.fromarray(np.rint(gradient_clip(1)[0] * 255).astype(np.uint8)).resize((32, 24))
        )
        / 255.0
    )
    assert mae(small, ref) < 0.05
    with pytest.raises(StyljaxError, match="max_side or size"):
        open_frames(out, max_side=32, size=(20, 30))


@pytest.mark.parametrize("kind", ["clip.mp4", "frames", "clip.gif"])
def test_max_frames(tmp_path: Path, kind: str) -> None:
    src = gradient_clip()
    write_clip(tmp_path / kind, src)
    info, got = read_all(tmp_path / kind, max_frames=5)
    assert len(got) == 5
    assert info.n_frames == 5
    assert_matches_in_order(got, src[:5], tol=0.05)
    with pytest.raises(StyljaxError, match="max_frames"):
        open_frames(tmp_path / kind, max_frames=0)


def test_folder_natural_sort_and_mixed_sizes(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for n, value in [(10, 200), (2, 100), (1, 50)]:
        size = (40, 30) if n == 10 else (20, 30)  # (w, h): frame10 is a different size
        Image.new("L", size, value).save(folder / f"frame{n}.png")
    (folder / ".frame0.png.tmp123.png").write_bytes(b"partial")  # hidden: skipped
    info, got = read_all(folder, fps=12)
    assert info == VideoInfo(3, 12.0, 30, 20, str(folder))
    assert [round(float(g.mean()) * 255) for g in got] == [50, 100, 200]
    assert all(g.shape == (30, 20, 3) for g in got)  # greyscale -> RGB, resized to the first


def test_video_rotation_tag_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "rot.mp4"
    a = np.zeros((32, 48, 3), np.uint8)
    a[:8, -8:] = 255  # a white block at the top right
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 48, 32, "yuv420p"
        s.set_display_rotation(90)  # display: turned 90 degrees counter-clockwise
        for _ in range(2):
            c.mux(s.encode(av.VideoFrame.from_ndarray(a, format="rgb24")))
        c.mux(s.encode(None))
    info, got = read_all(path)
    assert (info.height, info.width) == (48, 32) and got[0].shape == (48, 32, 3)
    assert got[0][:8, :8].mean() > 0.9 and got[0][-8:, -8:].mean() < 0.1  # now top left


def test_gif_transparency_is_composited_over_white(tmp_path: Path) -> None:
    path = tmp_path / "t.gif"
    frames = []
    for value in (0, 1):
        im = Image.new("P", (8, 8), 1)
        im.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
        im.paste(value, (0, 0, 4, 8))
        frames.append(im)
    frames[0].save(path, save_all=True, append_images=frames[1:], transparency=0, duration=40)
    got = read_all(path)[1]
    assert np.allclose(got[0][:, :4], 1.0) and np.allclose(got[0][:, 4:], [1.0, 0.0, 0.0])


# --------------------------------------------------------------------------------------------
# laziness and closing
# --------------------------------------------------------------------------------------------


def test_video_iterator_is_lazy_and_closes(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "long.mp4"
    write_clip(path, gradient_clip(200, 16, 16))
    calls = []
    real = sv._frame_to_array
    monkeypatch.setattr(sv, "_frame_to_array", lambda f: calls.append(1) or real(f))

    before = open_fds()
    info, it = open_frames(path)
    assert info.n_frames == 200 and iter(it) is it
    assert open_fds() == before  # nothing held open before iterating
    first = next(it)
    assert first.shape == (16, 16, 3)
    assert len(calls) <= 3  # probe + the first frame (+1 of slack), not 200
    it.close()
    assert open_fds() == before  # closing the iterator closed the container

    _, it = open_frames(path, max_frames=3)
    assert len(list(it)) == 3 and open_fds() == before  # exhausted: closed


def test_folder_iterator_is_lazy(tmp_path: Path) -> None:
    write_clip(tmp_path / "f", gradient_clip(5, 8, 8))
    _, it = open_frames(tmp_path / "f")
    next(it), next(it)
    victim = tmp_path / "f" / "frame_000003.png"
    victim.unlink()  # a lazy iterator only notices when it gets there
    with pytest.raises(StyljaxError) as e:
        next(it)
    assert str(victim) in str(e.value)


# --------------------------------------------------------------------------------------------
# bad inputs
# --------------------------------------------------------------------------------------------


def assert_one_line_error(exc: pytest.ExceptionInfo, path: Path, words: str) -> None:
    message = str(exc.value)
    assert str(path) in message and words in message and "\n" not in message


def test_single_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "still.png"
    Image.new("RGB", (8, 8)).save(path)
    with pytest.raises(StyljaxError) as e:
        open_frames(path)
    assert_one_line_error(e, path, "single image")
    assert "styljax stylize" in str(e.value)


def test_missing_and_empty_inputs(tmp_path: Path) -> None:
    for path, words in [
        (tmp_path / "nope.mp4", "no such file"),
        (tmp_path / "nope", "no such file"),
        (tmp_path / "empty_dir", "no image files"),
        (tmp_path / "empty.mp4", "empty file"),
    ]:
        if path.name == "empty_dir":
            path.mkdir()
        elif path.name == "empty.mp4":
            path.touch()
        with pytest.raises(StyljaxError) as e:
            open_frames(path)
        assert_one_line_error(e, path, words)


def test_corrupt_video_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, np.uint8).tobytes())
    with pytest.raises(StyljaxError) as e:
        open_frames(path)
    assert_one_line_error(e, path, "")
    with pytest.raises(StyljaxError):
        count_frames(path)


def test_truncated_video_is_refused_or_short(tmp_path: Path) -> None:
    good = tmp_path / "good.mp4"
    write_clip(good, gradient_clip(12, 32, 32))
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(good.read_bytes()[:300])  # header only: no decodable frame
    with pytest.raises(StyljaxError) as e:
        list(open_frames(bad)[1])
    assert_one_line_error(e, bad, "")


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    with av.open(str(path), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000, layout="mono")
        silence = np.zeros((1, 800), np.int16)
        frame = av.AudioFrame.from_ndarray(silence, format="s16", layout="mono")
        frame.sample_rate = 8000
        c.mux(s.encode(frame))
        c.mux(s.encode(None))
    with pytest.raises(StyljaxError) as e:
        open_frames(path)
    assert_one_line_error(e, path, "no video stream")


# --------------------------------------------------------------------------------------------
# writer errors and atomicity
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.mp4", "out.gif", "out.webm"])
def test_interrupted_write_leaves_nothing(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    with pytest.raises(RuntimeError, match="boom"), FrameWriter(target, 25) as writer:
        for f in gradient_clip(3):
            writer.write(f)
        raise RuntimeError("boom")
    assert only_entries(tmp_path) == []


def test_interrupted_write_keeps_the_old_target(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    write_clip(target, gradient_clip(2))
    old = target.read_bytes()
    with pytest.raises(KeyboardInterrupt), FrameWriter(target, 25) as writer:
        writer.write(gradient_clip(1)[0])
        raise KeyboardInterrupt
    assert target.read_bytes() == old and only_entries(tmp_path) == ["out.mp4"]


def test_temp_file_keeps_suffix_until_close(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    with FrameWriter(target, 25) as writer:
        writer.write(gradient_clip(1)[0])
        (tmp,) = tmp_path.iterdir()
        assert tmp.name.startswith(".out.mp4.") and tmp.suffix == ".mp4"
        assert not target.exists()
    assert only_entries(tmp_path) == ["out.mp4"]


def test_writer_bad_arguments(tmp_path: Path) -> None:
    for name in ("out.avi", "out.png", "out.xyz"):
        with pytest.raises(StyljaxError) as e:
            FrameWriter(tmp_path / name, 25)
        assert_one_line_error(e, tmp_path / name, "unknown video format")
    for fps in (0, -1, float("nan"), "fast"):
        with pytest.raises(StyljaxError, match="fps"):
            FrameWriter(tmp_path / "o.mp4", fps)
    with pytest.raises(StyljaxError, match="quality"):
        FrameWriter(tmp_path / "o.mp4", 25, quality=0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(StyljaxError, match="not a folder"):
        FrameWriter(tmp_path / "file", 25)
    assert only_entries(tmp_path) == ["file"]


def test_writer_frame_errors(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    with pytest.raises(StyljaxError, match="expected 48x64"), FrameWriter(target, 25) as writer:
        writer.write(gradient_clip(1)[0])
        writer.write(gradient_clip(1, 32, 32)[0])
    with pytest.raises(StyljaxError, match="shape"), FrameWriter(target, 25) as writer:
        writer.write(np.zeros((4, 4, 4), np.float32))
    with pytest.raises(StyljaxError, match="no frames written"), FrameWriter(target, 25):
        pass
    assert only_entries(tmp_path) == []


def test_mpeg4_fallback_codec(tmp_path: Path) -> None:
    src = gradient_clip(6, 45, 61)
    out = tmp_path / "m.mp4"
    assert write_clip(out, src, codec="mpeg4").codec == "mpeg4"
    info, got = read_all(out)
    assert (info.height, info.width) == (45, 61)
    assert_matches_in_order(got, src, tol=0.05)


def test_quality_changes_file_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noisy = [np.clip(f + 0.1 * rng.random(f.shape), 0, 1) for f in gradient_clip(4)]
    write_clip(tmp_path / "hi.mp4", noisy, quality=95)
    write_clip(tmp_path / "lo.mp4", noisy, quality=30)
    assert (tmp_path / "hi.mp4").stat().st_size > 2 * (tmp_path / "lo.mp4").stat().st_size
