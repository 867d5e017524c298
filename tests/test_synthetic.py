"""Synthetic clips: exact backward flow and traceable masks from still images (styljax.video.synthetic)."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage import data as skdata

from styljax.video import flow as F
from styljax.video import synthetic as S
from styljax.io.data import ImageSource, as_rgb01
from styljax.errors import StyljaxError


@pytest.fixture(scope="module")
def photos():
    """Three natural photos with a 192 px short side (1.5x a 128 px frame)."""
    imgs = [as_rgb01(f()) for f in (skdata.astronaut, skdata.coffee, skdata.chelsea)]
    return ImageSource(lambda i: imgs[i], len(imgs), 192)


def _warp(prev, flow):
    return np.asarray(F.warp(jnp.asarray(prev), jnp.asarray(flow)))


def _abs_err(clip, sign=1.0):
    """(T-1, H, W) mean-over-channels |warp(frame_{t-1}, sign * flow_t) - frame_t|."""
    fr = clip["frames"]
    return np.abs(_warp(fr[:-1], sign * clip["flow"][1:]) - fr[1:]).mean(-1)


def _static_camera(center, n):
    return S.Camera(np.tile(np.asarray(center, np.float64), (n, 1)), np.ones(n), np.zeros(n))


# ------------------------------------------------------------------------------------------
# Shapes, config, determinism
# ------------------------------------------------------------------------------------------


def test_make_clip_shapes_dtypes_ranges(photos):
    img = (photos[0] * 255).astype(np.uint8)  # any as_rgb01 input
    clip = S.make_clip(img, [photos[1]], 3, (48, 64), np.random.default_rng(0))
    assert set(clip) == {"frames", "flow", "traceable"}
    assert clip["frames"].shape == (3, 48, 64, 3) and clip["frames"].dtype == np.float32
    assert clip["flow"].shape == (3, 48, 64, 2) and clip["flow"].dtype == np.float32
    assert clip["traceable"].shape == (3, 48, 64) and clip["traceable"].dtype == np.float32
    assert 0.0 <= clip["frames"].min() and clip["frames"].max() <= 1.0 and clip["frames"].std() > 0.05
    assert np.isfinite(clip["flow"]).all()
    assert set(np.unique(clip["traceable"])) <= {0.0, 1.0}
    assert not clip["flow"][0].any() and not clip["traceable"][0].any()  # frame 0: nothing to trace
    assert clip["traceable"][1:].mean() > 0.5
    layered = S.make_clip(img, [photos[1]], 3, (48, 64), np.random.default_rng(0), return_layers=True)
    assert layered["layers"].shape == (3, 48, 64) and layered["layers"].dtype == np.int32
    np.testing.assert_array_equal(layered["frames"], clip["frames"])


def test_small_background_is_resized_up():
    """A background smaller than the frame is resized up (short side 1.5x the frame), leaving room
    for camera motion (without it the window could only zoom in and stand still)."""
    rng = np.random.default_rng(1)
    small = gaussian_filter(rng.random((30, 40, 3)), (2, 2, 0)).astype(np.float32)
    motion = S.MotionConfig(static_prob=0.0, n_objects=(0, 0))
    moved = 0
    for seed in range(4):
        clip = S.make_clip(small, [], 4, 64, np.random.default_rng(seed), motion)
        assert clip["frames"].shape == (4, 64, 64, 3)
        assert clip["frames"][0].std() > 0.01  # real content, not a clamped border
        err = _abs_err(clip)
        assert err[clip["traceable"][1:] > 0].mean() < 0.01
        moved += np.abs(clip["flow"][1:]).max() > 1.0
    assert moved >= 3


@pytest.mark.parametrize(
    "kwargs",
    [{"static_prob": 1.5}, {"max_pan": -1.0}, {"max_zoom": 1.0}, {"scale_range": (1.2, 1.0)},
     {"n_objects": (2, 1)}, {"object_size": (0.1, 1.5)}, {"min_background": 0.5}],
)
def test_motion_config_is_validated(kwargs):
    with pytest.raises(StyljaxError):
        S.MotionConfig(**kwargs)


def test_clip_batches_deterministic_per_step(photos):
    ds = S.clip_batches(photos, 48, 3, batch_size=2, seed=7)
    a = ds[3]
    assert set(a) == {"frames", "flow", "traceable", "index"}
    assert a["frames"].shape == (2, 3, 48, 48, 3) and a["frames"].dtype == np.float32
    assert a["flow"].shape == (2, 3, 48, 48, 2) and a["flow"].dtype == np.float32
    assert a["traceable"].shape == (2, 3, 48, 48) and a["traceable"].dtype == np.float32
    assert a["index"].shape == (2,) and all(0 <= i < len(photos) for i in a["index"])
    again = S.clip_batches(photos, 48, 3, batch_size=2, seed=7)[3]
    for k in a:
        np.testing.assert_array_equal(again[k], a[k])
    np.testing.assert_array_equal(ds[3]["flow"], a["flow"])
    assert not np.array_equal(ds[4]["frames"], a["frames"])
    assert not np.array_equal(S.clip_batches(photos, 48, 3, batch_size=2, seed=8)[3]["frames"], a["frames"])


def test_eval_clips_fixed(photos):
    imgs = [photos[i] for i in range(len(photos))]
    a = S.eval_clips(imgs, 48, 3, seed=1)
    b = S.eval_clips(imgs, 48, 3, seed=1)
    assert len(a) == len(imgs)
    for x, y in zip(a, b):
        for k in ("frames", "flow", "traceable"):
            np.testing.assert_array_equal(x[k], y[k])
    assert not np.array_equal(a[0]["frames"], a[1]["frames"])
    assert not np.array_equal(S.eval_clips(imgs, 48, 3, seed=2)[0]["frames"], a[0]["frames"])


# ------------------------------------------------------------------------------------------
# Exact geometry
# ------------------------------------------------------------------------------------------


def test_static_camera_without_objects(photos):
    motion = S.MotionConfig(static_prob=1.0, n_objects=(0, 0))
    clip = S.make_clip(photos[0], [], 4, 64, np.random.default_rng(3), motion)
    assert not clip["flow"].any()
    for t in range(1, 4):
        np.testing.assert_array_equal(clip["frames"][t], clip["frames"][0])
    assert clip["traceable"][1:].all() and not clip["traceable"][0].any()


@pytest.mark.parametrize("dx, dy", [(3, -2), (-4, 5)])
def test_integer_pan_gives_exact_flow(photos, dx, dy):
    """Camera panning by (dx, dy) background px/frame: a point at x in frame t was at x + (dx, dy)
    in frame t-1, so the backward flow is +(dx, dy) and the strip entering the frame is untraceable."""
    h, w, n = 48, 64, 4
    bg = photos[0]
    top, left = 70, 60  # frame 0 = bg[top:top+h, left:left+w]
    c0 = np.array([left + (w - 1) / 2, top + (h - 1) / 2])
    cam = S.Camera(c0 + np.arange(n)[:, None] * [dx, dy], np.ones(n), np.zeros(n))
    clip = S.render_clip(bg, cam, [], (h, w))
    ys, xs = np.mgrid[0:h, 0:w]
    for t in range(n):
        crop = bg[top + t * dy : top + t * dy + h, left + t * dx : left + t * dx + w]
        np.testing.assert_allclose(clip["frames"][t], crop, atol=1e-6)
    for t in range(1, n):
        assert (clip["flow"][t, ..., 0] == dx).all() and (clip["flow"][t, ..., 1] == dy).all()
        inside = (xs + dx >= 0) & (xs + dx <= w - 1) & (ys + dy >= 0) & (ys + dy <= h - 1)
        np.testing.assert_array_equal(clip["traceable"][t], inside.astype(np.float32))
        assert 0 < inside.mean() < 1
        prev = clip["frames"][t - 1]
        np.testing.assert_array_equal(clip["frames"][t][inside], prev[(ys + dy)[inside], (xs + dx)[inside]])
        warped = _warp(prev[None], clip["flow"][t][None])[0]
        np.testing.assert_allclose(warped[inside], clip["frames"][t][inside], atol=1e-5)


def test_zoom_and_rotation_flow_matches_geometry(photos):
    """A camera rotating 2 deg/frame and zooming out 3 %/frame about the frame centre."""
    h, w, n = 64, 80, 3
    bg = gaussian_filter(photos[1], (1.5, 1.5, 0)).astype(np.float32)
    c = np.array([bg.shape[1] / 2, bg.shape[0] / 2])
    cam = S.Camera(np.tile(c, (n, 1)), 0.9 * 1.03 ** np.arange(n), np.radians(2.0) * np.arange(n))
    clip = S.render_clip(bg, cam, [], (h, w))
    # Analytic flow of a pixel at offset d from the frame centre: (s_t / s_{t-1}) R(dtheta) d - d.
    ys, xs = np.mgrid[0:h, 0:w]
    d = np.stack([xs - (w - 1) / 2, ys - (h - 1) / 2], -1)
    a = math.radians(2.0)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    for t in (1, 2):
        np.testing.assert_allclose(clip["flow"][t], 1.03 * d @ rot.T - d, atol=1e-4)
        # ... which is A_{t-1}^{-1}(A_t(p)) - p
        px, py = cam.to_frame(t - 1, *cam.to_background(t, xs, ys, (h, w)), (h, w))
        np.testing.assert_allclose(clip["flow"][t], np.stack([px - xs, py - ys], -1), atol=1e-4)
    m = clip["traceable"][1:] > 0
    err, neg = _abs_err(clip), _abs_err(clip, -1.0)
    assert 0.9 < m.mean() < 1.0  # zooming out: the border ring is new content
    assert err[m].mean() < 0.005
    assert neg[m].mean() > 5 * err[m].mean()


def test_moving_object_occludes_and_uncovers(photos):
    """Static camera, one flat red sprite moving (+4, +1) px/frame: the pixels it uncovers (and the
    background it newly covers) are untraceable; its own pixels and the untouched background are."""
    h, w, n = 48, 64, 4
    bg = photos[0]
    tex = np.zeros((40, 40, 3), np.float32)
    tex[..., 0] = 1.0
    centers = np.array([20.3, 22.6]) + np.arange(n)[:, None] * [4.0, 1.0]
    for ellipse in (False, True):
        sprite = S.Sprite(tex, (20.0, 20.0), (9.0, 7.0), centers, ellipse=ellipse)
        clip = S.render_clip(bg, _static_camera([100.5, 100.5], n), [sprite], (h, w))
        lay = clip["layers"]
        ys, xs = np.mgrid[0:h, 0:w]
        for t in range(1, n):
            on = lay[t] == 1
            np.testing.assert_array_equal(clip["flow"][t][on], np.broadcast_to([-4.0, -1.0], (on.sum(), 2)))
            assert not clip["flow"][t][~on].any()
            uncovered = (lay[t] == 0) & (lay[t - 1] == 1)
            covered = on & (lay[t - 1] == 0)
            assert uncovered.sum() > 10 and covered.sum() > 10
            expected = ((lay[t] == 0) & (lay[t - 1] == 0)) | (on & (xs - 4 >= 0) & (ys - 1 >= 0))
            np.testing.assert_array_equal(clip["traceable"][t], expected.astype(np.float32))
            np.testing.assert_array_equal(clip["frames"][t][on], np.broadcast_to([1.0, 0, 0], (on.sum(), 3)))
            err = np.abs(_warp(clip["frames"][t - 1][None], clip["flow"][t][None])[0] - clip["frames"][t]).mean(-1)
            assert err[expected].max() < 1e-5
            assert err[uncovered].mean() > 0.2  # red sprite where the background should be


def test_traceable_excludes_mixed_bilinear_neighbours():
    """Sub-pixel motion of camera and sprite over a flat background: the warp of a traceable pixel
    must not mix in another layer, so the error on traceable pixels is exactly zero (up to float)."""
    h, w, n = 40, 48, 3
    bg = np.full((120, 120, 3), 0.5, np.float32)
    tex = np.zeros((40, 40, 3), np.float32)
    tex[..., 0] = 1.0
    cam = S.Camera(np.array([60.0, 60.0]) + np.arange(n)[:, None] * [0.5, 0.25], np.ones(n), np.zeros(n))
    centers = np.array([15.2, 20.1]) + np.arange(n)[:, None] * [4.5, -1.25]
    for ellipse in (False, True):
        sprite = S.Sprite(tex, (20.0, 20.0), (8.0, 6.5), centers, ellipse=ellipse)
        clip = S.render_clip(bg, cam, [sprite], (h, w))
        m = clip["traceable"][1:] > 0
        err = _abs_err(clip)
        assert 0.7 < m.mean() < 1.0
        assert err[m].max() < 1e-5
        on = clip["layers"][1:] == 1
        np.testing.assert_array_equal(clip["flow"][1:][on], np.broadcast_to([-4.5, 1.25], (on.sum(), 2)))


def test_warp_matches_frames_on_traceable_pixels(photos):
    """The key invariant on random clips at 128 px: warp(frame_{t-1}, flow_t) ~= frame_t where
    traceable (bilinear re-sampling error only), not with the flow negated, and not on the
    untraceable pixels (occlusions by moving objects)."""
    err_tr, err_neg, err_un, err_obj = [], [], [], []
    for seed in range(6):
        clip = S.make_clip(photos[seed % 3], [photos[(seed + 1) % 3]], 3, 128, np.random.default_rng(seed),
                           return_layers=True)
        m = clip["traceable"][1:] > 0
        inb = np.asarray(F.in_bounds(jnp.asarray(clip["flow"][1:]))) > 0
        err, neg = _abs_err(clip), _abs_err(clip, -1.0)
        err_tr.append(err[m])
        err_neg.append(neg[m])
        err_un.append(err[~m & inb])
        err_obj.append(err[~m & inb & (clip["layers"][1:] > 0)])
    tr, ng, un, ob = (np.concatenate(e) for e in (err_tr, err_neg, err_un, err_obj))
    assert tr.size > 0.8 * 6 * 2 * 128 * 128  # mostly traceable...
    assert un.size > 500 and ob.size > 200  # ...but with real occlusions
    assert tr.mean() < 0.01  # measured ~0.004
    assert ng.mean() > 5 * tr.mean()  # wrong flow sign
    assert un.mean() > 10 * tr.mean()  # inverted mask
    assert ob.mean() > 0.05


def test_trajectory_stays_inside_background():
    """A background and texture with a 1 px pure-green border and no green inside: strong motion
    over long clips must never sample the border (or beyond it)."""
    rng = np.random.default_rng(0)
    img = gaussian_filter(rng.random((200, 260, 3)), (3, 3, 0)).astype(np.float32)
    img = (img - img.min()) / (img.max() - img.min())
    img[..., 1] = 0.0
    img[0, :], img[-1, :], img[:, 0], img[:, -1] = (0, 1, 0), (0, 1, 0), (0, 1, 0), (0, 1, 0)
    motion = S.MotionConfig(static_prob=0.0, max_pan=15.0, max_zoom=0.05, max_rotation=math.radians(4),
                            pan_accel=1.0, object_size=(0.3, 0.6), scale_range=(1.0, 1.3))
    moved = 0
    for seed in range(8):
        clip = S.make_clip(img, [img], 8, 128, np.random.default_rng(seed), motion, return_layers=True)
        assert clip["frames"][..., 1].max() < 1e-4
        bg_flow = np.abs(clip["flow"][1:][clip["layers"][1:] == 0]).max()
        moved += bg_flow > 1.0
    assert moved >= 6  # the motion was scaled down only as needed, not removed
