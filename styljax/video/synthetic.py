"""Synthetic video clips from still images, with exact backward optical flow and traceable masks.

Training data for video style transfer (Chen et al., ICCV'17, "Coherent online video style
transfer"): its temporal losses need, for every frame t ≥ 1, the backward flow to frame t−1 and
the mask of pixels that can be traced back to frame t−1. Real footage has neither exactly; here
both are exact because the whole scene is made of rigid, analytically known layers:

- **Camera.** Frame t shows the background photo through an affine map
  ``A_t(p) = c_t + s_t R(θ_t) (p − o)`` from frame pixel coordinates p = (x, y) to background
  coordinates (o = frame centre, c_t = where the centre looks, s_t = background pixels per frame
  pixel, θ_t = rotation). Pan, zoom and rotation move with a per-clip constant velocity plus a
  small random acceleration per frame (`MotionConfig`). Every frame window stays inside the
  background: when a drawn trajectory does not fit, its motion is scaled down (`_fit_camera`), so
  no frame ever shows border clamping or reflections (whose "flow" would be wrong).
- **Objects.** K sprites, each a patch of a texture image with a rectangular or elliptical hard
  mask, translate in frame coordinates with their own velocity (+ jitter); sprite k is drawn over
  sprites < k and the background, and may leave the frame. Textures are sampled bilinearly at
  sub-pixel positions, the shape mask is evaluated analytically at pixel centres.

Flow (convention of `styljax.video.flow`: (…, H, W, 2), channel 0 = u = Δx, channel 1 = v = Δy, backward):
a background pixel p of frame t has ``flow = A_{t−1}^{-1}(A_t(p)) − p``, a pixel of sprite k has
``flow = q_k(t−1) − q_k(t)`` (q = sprite centre). So ``flow.warp(frame_{t−1}, flow_t)`` ≈ frame_t on
traceable pixels, up to the error of bilinear re-sampling.

Traceable mask of frame t ≥ 1: pixel p with layer ℓ (0 = background, k = sprite k) is traceable iff
y = p + flow_t(p) lies in [0, W−1]×[0, H−1], the top layer of frame t−1 at y (evaluated
analytically) is ℓ, and — to be conservative, because the warp mixes them — the top layer of frame
t−1 is also ℓ at the integer neighbours of y that get a non-zero bilinear weight (floor/ceil in x
and y), so the warp of a traceable pixel never mixes in another layer. (For the convex sprite
shapes used here the neighbour test implies the analytic one; both are kept.) This is exact, not
eroded: no margin beyond the bilinear footprint. Frame 0 has flow 0 and traceable 0.

All rendering is numpy/scipy (`map_coordinates(order=1)`): it runs in the data pipeline, not in jit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grain
import numpy as np
from scipy.ndimage import map_coordinates

from styljax.imaging import geometry
from styljax.io.data import as_rgb01
from styljax.errors import StyljaxError


@dataclass(frozen=True)
class MotionConfig:
    """Random motion of a synthetic clip; the defaults suit 128 px frames.

    Camera (per clip, unless static): a constant velocity drawn uniformly up to the maxima, plus a
    normal per-frame acceleration with the given standard deviations.
    - `static_prob`: probability of a static camera (objects still move);
    - `max_pan`: pan speed in background px/frame (random direction);
    - `max_zoom`: zoom rate, multiplicative per frame, in ±`max_zoom` (0.02 = ±2 %/frame);
    - `max_rotation`: rotation rate in ±rad/frame;
    - `pan_accel`, `zoom_accel`, `rotation_accel`: per-frame acceleration std (px, log-scale, rad);
    - `scale_range`: initial zoom s_0 (background px per frame px), uniform in the range; lowered
      when the background is too small for it;
    - `margin`: frame windows keep this many background pixels away from the border;
    - `random_start`: place the first window uniformly in the region where the whole trajectory
      fits (else in its middle);
    - `min_background`: backgrounds whose short side is below this × the frame's long side are
      resized up first.
    Objects: `n_objects` (inclusive range), `object_size` (side as a fraction of the frame side,
    per axis), `max_object_speed` (px/frame in frame coordinates), `object_jitter` (per-frame
    velocity std), `ellipse_prob` (else a rectangle).
    """

    static_prob: float = 0.1
    max_pan: float = 6.0
    max_zoom: float = 0.02
    max_rotation: float = math.radians(1.0)
    pan_accel: float = 0.3
    zoom_accel: float = 0.002
    rotation_accel: float = math.radians(0.1)
    scale_range: tuple[float, float] = (0.9, 1.1)
    margin: float = 1.0
    random_start: bool = True
    min_background: float = 1.5
    n_objects: tuple[int, int] = (1, 3)
    object_size: tuple[float, float] = (0.15, 0.35)
    max_object_speed: float = 6.0
    object_jitter: float = 0.3
    ellipse_prob: float = 0.5

    def __post_init__(self):
        for name in ("max_pan", "max_zoom", "max_rotation", "pan_accel", "zoom_accel", "rotation_accel",
                     "margin", "max_object_speed", "object_jitter"):
            if not getattr(self, name) >= 0:
                raise StyljaxError(f"MotionConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("static_prob", "ellipse_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise StyljaxError(f"MotionConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        if not self.max_zoom < 1:
            raise StyljaxError(f"MotionConfig.max_zoom must be < 1, got {self.max_zoom}")
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise StyljaxError(f"MotionConfig.scale_range must be 0 < lo <= hi, got {self.scale_range}")
        lo, hi = self.n_objects
        if not (int(lo) == lo and int(hi) == hi and 0 <= lo <= hi):
            raise StyljaxError(f"MotionConfig.n_objects must be integers 0 <= lo <= hi, got {self.n_objects}")
        lo, hi = self.object_size
        if not 0 < lo <= hi <= 1:
            raise StyljaxError(f"MotionConfig.object_size must be 0 < lo <= hi <= 1, got {self.object_size}")
        if not self.min_background >= 1:
            raise StyljaxError(f"MotionConfig.min_background must be >= 1, got {self.min_background}")


@dataclass(frozen=True)
class Camera:
    """Camera trajectory: frame t maps frame pixel p to background point c_t + s_t R(θ_t)(p − o).

    `centers` (T, 2) background (x, y) of the frame centre o = ((w−1)/2, (h−1)/2), `scales` (T,)
    background px per frame px, `angles` (T,) radians.
    """

    centers: np.ndarray
    scales: np.ndarray
    angles: np.ndarray

    def to_background(self, t: int, x: np.ndarray, y: np.ndarray, size: tuple[int, int]):
        ox, oy = (size[1] - 1) / 2.0, (size[0] - 1) / 2.0
        s, c, sn = self.scales[t], math.cos(self.angles[t]), math.sin(self.angles[t])
        dx, dy = x - ox, y - oy
        return self.centers[t][0] + s * (c * dx - sn * dy), self.centers[t][1] + s * (sn * dx + c * dy)

    def to_frame(self, t: int, bx: np.ndarray, by: np.ndarray, size: tuple[int, int]):
        ox, oy = (size[1] - 1) / 2.0, (size[0] - 1) / 2.0
        s, c, sn = self.scales[t], math.cos(self.angles[t]), math.sin(self.angles[t])
        dx, dy = bx - self.centers[t][0], by - self.centers[t][1]
        return ox + (c * dx + sn * dy) / s, oy + (-sn * dx + c * dy) / s

    def flow(self, t: int, x: np.ndarray, y: np.ndarray, size: tuple[int, int]):
        """Backward flow (u, v) of the background at frame-t pixels: A_{t−1}^{-1}(A_t(p)) − p, written
        as R(−θ_{t−1})(c_t − c_{t−1})/s_{t−1} + ((s_t/s_{t−1}) R(θ_t − θ_{t−1}) − I)(p − o), so
        that a still camera gives exactly 0 and a pure pan exactly its step."""
        ox, oy = (size[1] - 1) / 2.0, (size[0] - 1) / 2.0
        s0, a0 = self.scales[t - 1], self.angles[t - 1]
        k, da = self.scales[t] / s0, self.angles[t] - a0
        ddx, ddy = self.centers[t][0] - self.centers[t - 1][0], self.centers[t][1] - self.centers[t - 1][1]
        c, sn = math.cos(a0), math.sin(a0)
        tx, ty = (c * ddx + sn * ddy) / s0, (-sn * ddx + c * ddy) / s0
        c, sn = k * math.cos(da) - 1.0, k * math.sin(da)
        dx, dy = x - ox, y - oy
        return tx + (c * dx - sn * dy), ty + (sn * dx + c * dy)


@dataclass(frozen=True)
class Sprite:
    """A foreground object: `texture` (H, W, 3) shown with its point `anchor` (x, y) at the sprite
    centre `centers[t]` (T, 2, frame (x, y)); covers |Δx| ≤ half[0], |Δy| ≤ half[1] around the
    centre (a rectangle), or the inscribed ellipse when `ellipse`."""

    texture: np.ndarray
    anchor: tuple[float, float]
    half: tuple[float, float]
    centers: np.ndarray
    ellipse: bool = False

    def covers(self, t: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        dx, dy = (x - self.centers[t][0]) / self.half[0], (y - self.centers[t][1]) / self.half[1]
        if self.ellipse:
            return dx * dx + dy * dy <= 1.0
        return (np.abs(dx) <= 1.0) & (np.abs(dy) <= 1.0)


def _hw(size: int | Sequence[int]) -> tuple[int, int]:
    h, w = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    if h < 2 or w < 2:
        raise StyljaxError(f"synthetic clip size must be at least 2x2, got {h}x{w}")
    return h, w


def _sample(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of (H, W, C) at float coordinates -> (*x.shape, C) float32."""
    coords = np.stack([y, x])
    return np.stack([map_coordinates(img[..., c], coords, order=1, mode="nearest") for c in range(img.shape[-1])], -1)


def _upscale(img: np.ndarray, short: float) -> np.ndarray:
    """Resize up (`geometry.resize`) so the short side is at least `short` (unchanged when it already is)."""
    h, w = img.shape[:2]
    if min(h, w) >= short:
        return img
    f = math.ceil(short) / min(h, w)
    nh, nw = max(math.ceil(short), round(h * f)), max(math.ceil(short), round(w * f))
    return np.clip(np.asarray(geometry.resize(img, (nh, nw)), np.float32), 0.0, 1.0)


def _layers(sprites: Sequence[Sprite], t: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Top layer at points (x, y) of frame t: 0 = background, k = sprite k (1-based, later on top)."""
    out = np.zeros(np.shape(x), np.int32)
    for k, sp in enumerate(sprites, 1):
        out[sp.covers(t, x, y)] = k
    return out


def render_clip(
    background: np.ndarray, camera: Camera, sprites: Sequence[Sprite], size: int | Sequence[int]
) -> dict[str, np.ndarray]:
    """Render a clip from an explicit camera trajectory and sprites (see the module docstring).

    Returns {"frames": (T, h, w, 3) float32 in [0, 1], "flow": (T, h, w, 2) float32 backward flow,
    "traceable": (T, h, w) float32 in {0, 1}, "layers": (T, h, w) int32 top layer per pixel}.
    The caller keeps the camera windows and sprite anchors inside their images (`make_clip` does).
    """
    h, w = _hw(size)
    n = len(camera.scales)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = np.zeros((n, h, w, 3), np.float32)
    flow = np.zeros((n, h, w, 2), np.float32)
    traceable = np.zeros((n, h, w), np.float32)
    layers = np.zeros((n, h, w), np.int32)
    for t in range(n):
        lay = layers[t] = _layers(sprites, t, xs, ys)
        bx, by = camera.to_background(t, xs, ys, (h, w))
        frames[t] = _sample(background, bx, by)
        f = np.zeros((h, w, 2))
        if t > 0:
            f[..., 0], f[..., 1] = camera.flow(t, xs, ys, (h, w))
        for k, sp in enumerate(sprites, 1):
            sel = lay == k
            if not sel.any():
                continue
            cx, cy = sp.centers[t]
            frames[t][sel] = _sample(sp.texture, sp.anchor[0] + xs[sel] - cx, sp.anchor[1] + ys[sel] - cy)
            if t > 0:
                f[sel] = sp.centers[t - 1] - sp.centers[t]
        if t == 0:
            continue
        flow[t] = f
        # Traceability from the float32 flow that consumers warp with.
        qx, qy = xs + flow[t, ..., 0].astype(np.float64), ys + flow[t, ..., 1].astype(np.float64)
        ok = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
        ok &= _layers(sprites, t - 1, qx, qy) == lay
        cqx, cqy = np.clip(qx, 0, w - 1), np.clip(qy, 0, h - 1)
        x0, x1 = np.floor(cqx).astype(np.intp), np.ceil(cqx).astype(np.intp)
        y0, y1 = np.floor(cqy).astype(np.intp), np.ceil(cqy).astype(np.intp)
        prev = layers[t - 1]
        for yy in (y0, y1):
            for xx in (x0, x1):
                ok &= prev[yy, xx] == lay
        traceable[t] = ok
    np.clip(frames, 0.0, 1.0, out=frames)
    return {"frames": frames, "flow": flow, "traceable": traceable, "layers": layers}


def _walk(rng: np.random.Generator, n: int, velocity: np.ndarray, accel: float) -> np.ndarray:
    """Offsets (n, *velocity.shape) from frame 0: per-frame velocity = velocity + cumulated accelerations."""
    velocity = np.asarray(velocity, np.float64)
    steps = velocity + np.cumsum(rng.normal(0.0, 1.0, (n - 1, *velocity.shape)) * accel, axis=0)
    return np.concatenate([np.zeros((1, *velocity.shape)), np.cumsum(steps, axis=0)])


def _fit_camera(
    bg_hw: tuple[int, int], hw: tuple[int, int], s0: float, dc: np.ndarray, dl: np.ndarray, dth: np.ndarray,
    rng: np.random.Generator, motion: MotionConfig,
) -> Camera:
    """Place a relative trajectory (offsets dc, log-zoom dl, angle dth from frame 0) in the background.

    s0 is first lowered (zoom in) until the still window fits; then, while the moving trajectory
    does not fit anywhere, its motion is scaled down by 0.75 (after 40 tries: no motion).
    The start is drawn uniformly where the whole trajectory fits (or centred).
    """
    (bh, bw), (h, w), m = bg_hw, hw, motion.margin
    s0 = min(s0, (bw - 1 - 2 * m) / (w - 1), (bh - 1 - 2 * m) / (h - 1))
    if s0 <= 0:
        raise StyljaxError(f"background {bh}x{bw} too small for a margin of {m} px")
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float64) - [(w - 1) / 2, (h - 1) / 2]
    upper = np.array([bw - 1 - m, bh - 1 - m], np.float64)
    lam = 1.0
    for attempt in range(41):
        if attempt == 40:
            lam = 0.0
        s, th = s0 * np.exp(lam * dl), lam * dth
        cos, sin = np.cos(th)[:, None], np.sin(th)[:, None]
        ox = s[:, None] * (cos * corners[:, 0] - sin * corners[:, 1])
        oy = s[:, None] * (sin * corners[:, 0] + cos * corners[:, 1])
        off = np.stack([ox, oy], -1) + lam * dc[:, None, :]  # (T, 4, 2)
        lo, hi = m - off.min(axis=(0, 1)), upper - off.max(axis=(0, 1))
        if np.all(lo <= hi):
            break
        lam *= 0.75
    c0 = rng.uniform(lo, hi) if motion.random_start else (lo + hi) / 2
    return Camera(centers=c0 + lam * dc, scales=s, angles=th)


def _sample_camera(
    bg_hw: tuple[int, int], hw: tuple[int, int], n: int, rng: np.random.Generator, motion: MotionConfig
) -> Camera:
    static = rng.random() < motion.static_prob
    s0 = rng.uniform(*motion.scale_range)
    if static:
        dc, dl, dth = np.zeros((n, 2)), np.zeros(n), np.zeros(n)
    else:
        speed, direction = rng.uniform(0, motion.max_pan), rng.uniform(0, 2 * np.pi)
        zoom = rng.uniform(-1, 1) * math.log1p(motion.max_zoom)
        spin = rng.uniform(-1, 1) * motion.max_rotation
        dc = _walk(rng, n, speed * np.array([np.cos(direction), np.sin(direction)]), motion.pan_accel)
        dl = _walk(rng, n, np.float64(zoom), motion.zoom_accel)
        dth = _walk(rng, n, np.float64(spin), motion.rotation_accel)
    return _fit_camera(bg_hw, hw, s0, dc, dl, dth, rng, motion)


def _sample_sprites(
    textures: Sequence[np.ndarray], hw: tuple[int, int], n: int, rng: np.random.Generator, motion: MotionConfig
) -> list[Sprite]:
    h, w = hw
    m = motion.margin
    sprites = []
    for _ in range(int(rng.integers(motion.n_objects[0], motion.n_objects[1] + 1))):
        tex = textures[int(rng.integers(len(textures)))]
        a = rng.uniform(*motion.object_size) * w / 2
        b = rng.uniform(*motion.object_size) * h / 2
        ellipse = bool(rng.random() < motion.ellipse_prob)
        tex = _upscale(tex, 2 * max(a, b) + 2 * m + 2)
        th, tw = tex.shape[:2]
        anchor = (rng.uniform(m + a, tw - 1 - m - a), rng.uniform(m + b, th - 1 - m - b))
        start = np.array([rng.uniform(0, w - 1), rng.uniform(0, h - 1)])
        speed, direction = rng.uniform(0, motion.max_object_speed), rng.uniform(0, 2 * np.pi)
        velocity = speed * np.array([np.cos(direction), np.sin(direction)])
        centers = start + _walk(rng, n, velocity, motion.object_jitter)
        sprites.append(Sprite(tex, (float(anchor[0]), float(anchor[1])), (a, b), centers, ellipse))
    return sprites


def make_clip(
    background: Any,
    objects: Sequence[Any],
    n_frames: int,
    size: int | Sequence[int],
    rng: np.random.Generator,
    motion: MotionConfig = MotionConfig(),
    return_layers: bool = False,
) -> dict[str, np.ndarray]:
    """A random synthetic clip: {"frames": (T, h, w, 3) float32 in [0, 1], "flow": (T, h, w, 2)
    float32 backward flow (frame 0: zeros), "traceable": (T, h, w) float32 in {0, 1} (frame 0: zeros)}
    (+ "layers" (T, h, w) int32 with `return_layers`).

    `background` is an image (float in [0, 1], or anything `data.as_rgb01` takes); `objects` the
    images sprite textures are cut from (empty: the background itself). `size` is an int or (h, w).
    Every draw comes from `rng`, so the clip is a pure function of the inputs and the rng state.
    """
    n = int(n_frames)
    if n < 1:
        raise StyljaxError(f"n_frames must be >= 1, got {n_frames}")
    h, w = _hw(size)
    bg = _upscale(as_rgb01(background), motion.min_background * max(h, w))
    textures = [as_rgb01(o) for o in objects] or [bg]
    camera = _sample_camera(bg.shape[:2], (h, w), n, rng, motion)
    sprites = _sample_sprites(textures, (h, w), n, rng, motion)
    clip = render_clip(bg, camera, sprites, (h, w))
    if not return_layers:
        del clip["layers"]
    return clip


def clip_batches(
    source: Any,
    size: int | Sequence[int],
    n_frames: int,
    batch_size: int,
    seed: int,
    motion: MotionConfig = MotionConfig(),
    epochs: int = 100_000,
) -> grain.MapDataset:
    """`ds[step]` -> {"frames": (B, T, h, w, 3), "flow": (B, T, h, w, 2), "traceable": (B, T, h, w)
    float32, "index": (B,) int32 background index}.

    `source` is random-access (`len`, `__getitem__` -> image), e.g. a `data.ImageSource`; its
    short side sets the field of view (≈1.5–2× the frame side is a good choice; smaller images
    are resized up). Backgrounds are shuffled per epoch-block with `seed` as in
    `data.crop_batches`; sprite textures come from other random images of the source; all draws
    use grain's per-element RNG, so batch `step` is a pure function of (seed, step).
    """
    if len(source) == 0:
        raise StyljaxError("empty training set")
    n = len(source)
    k = motion.n_objects[1]

    def make(i: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        others = (i + 1 + rng.integers(0, n - 1, size=k)) % n if n > 1 else np.full(k, i)
        clip = make_clip(source[i], [source[int(j)] for j in others], n_frames, size, rng, motion)
        clip["index"] = np.int32(i)
        return clip

    ds = grain.MapDataset.range(n * epochs).shuffle(seed=seed)
    ds = ds.map(lambda i: i % n)
    ds = ds.random_map(make, seed=seed)
    return ds.batch(batch_size, drop_remainder=True)


def eval_clips(
    images: Sequence[Any],
    size: int | Sequence[int],
    n_frames: int,
    seed: int = 0,
    motion: MotionConfig = MotionConfig(),
) -> list[dict[str, np.ndarray]]:
    """One fixed clip per image (a held-out evaluation set): clip i uses image i as background,
    sprite textures from the other images (itself when alone), and `np.random.default_rng((seed, i))`."""
    images = list(images)
    out = []
    for i, img in enumerate(images):
        others = images[:i] + images[i + 1 :] or [img]
        out.append(make_clip(img, others, n_frames, size, np.random.default_rng((seed, i)), motion))
    return out


__all__ = ["Camera", "MotionConfig", "Sprite", "clip_batches", "eval_clips", "make_clip", "render_clip"]
