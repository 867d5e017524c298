"""`styljax.evaluation.metrics` on synthetic images: each number does what its definition says (no shared data)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy import ndimage

from styljax.evaluation import metrics
from styljax.nets import vgg

H, W = 96, 128


def smooth_image(seed: int, shape=(H, W), sigma: float = 3.0) -> np.ndarray:
    """Blurred noise in [0, 1]: a stand-in photo with edges everywhere and a smooth spectrum."""
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.standard_normal(shape + (3,)), (sigma, sigma, 0))
    return ((x - x.min()) / (x.max() - x.min())).astype(np.float32)


def natural_image(seed: int, shape=(H, W)) -> np.ndarray:
    """A stand-in photo for the spectrum: power falling as 1/f² (as natural images' do), no peaks."""
    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(shape[0])[:, None], np.fft.fftfreq(shape[1])[None, :]
    amp = 1.0 / np.maximum(np.hypot(fy, fx), 1.0 / max(shape))
    y = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal(shape)) * amp))
    y = 0.2 + 0.6 * (y - y.min()) / (y.max() - y.min())  # room for the patterns added below
    return np.repeat(y[..., None], 3, axis=-1)


# ------------------------------------------------------------------------------------- structure


def test_structure_identical_is_one_and_ignores_brightness_and_contrast():
    a = smooth_image(0)
    assert metrics.structure_kept(a, a) == pytest.approx(1.0)
    assert metrics.structure_kept(0.5 * a + 0.2, a) == pytest.approx(1.0, abs=1e-9)


def test_structure_unrelated_is_near_zero():
    a, b = smooth_image(0), smooth_image(1)
    assert abs(metrics.structure_kept(b, a)) < 0.15
    noise = np.random.default_rng(2).random((H, W, 3)).astype(np.float32)
    assert abs(metrics.structure_kept(noise, a)) < 0.15


def test_structure_orders_outputs_by_what_they_keep():
    a = smooth_image(0)
    other = smooth_image(1)
    kept = [metrics.structure_kept((1 - t) * a + t * other, a) for t in (0.0, 0.3, 0.6, 0.9)]
    assert kept == sorted(kept, reverse=True)
    assert kept[1] > 0.8 and kept[3] < 0.5


def test_structure_flat_scores_zero_and_sizes_must_match():
    a = smooth_image(0)
    assert metrics.structure_kept(np.full_like(a, 0.5), a) == 0.0
    with pytest.raises(ValueError, match="same-size"):
        metrics.structure_kept(a[:-1], a)


def test_edge_magnitude_blurs_before_sobel():
    step = np.zeros((64, 64), np.float32)
    step[:, 32:] = 1.0
    sharp, blurred = metrics.edge_magnitude(step, sigma=0.5), metrics.edge_magnitude(step, sigma=2.0)
    assert sharp[:, 31:33].max() > blurred[:, 31:33].max()  # same edge, spread wider when blurred
    assert (blurred[:, 28:36] > 0.3).all() and not (sharp[:, 28:36] > 0.3).all()


# ------------------------------------------------------------------------------------- style


@pytest.fixture(scope="module")
def style_distance():
    return metrics.StyleDistance(vgg.random_weights(16, jax.random.key(0)), size=64)


def test_style_distance_of_a_painting_to_itself_is_zero(style_distance):
    p = smooth_image(3)
    assert style_distance.distance(p, p) == pytest.approx(0.0, abs=1e-9)
    assert style_distance.distance(p, style_distance.grams(p)) == pytest.approx(0.0, abs=1e-9)


def test_style_distance_resizes_both_to_its_size(style_distance):
    p = smooth_image(3, (96, 128))
    g = style_distance.grams(p)
    assert set(g) == set(metrics.STYLE_LAYERS)
    assert g["relu1_2"].shape == (64, 64)  # channels of relu1_2
    big = np.kron(p, np.ones((2, 2, 1), np.float32))  # the same picture at 2x: both go to 64 px
    assert style_distance.distance(big, p) < 0.05 * style_distance.distance(smooth_image(4), p)


def test_style_distance_nearest_is_own(style_distance):
    paintings = {"a": smooth_image(5, sigma=1.0), "b": smooth_image(6, sigma=6.0),
                 "c": np.clip(smooth_image(7) * [1.0, 0.3, 0.1], 0, 1).astype(np.float32)}
    grams = {k: style_distance.grams(v) for k, v in paintings.items()}
    for name, p in paintings.items():
        # a different crop of the same painting: same statistics, other pixels
        d = style_distance.distances(np.ascontiguousarray(p[::-1, ::-1]), grams)
        assert min(d, key=d.get) == name


def test_relative_gram_distance_counts_each_layer_relative_to_the_painting():
    a = {"x": np.eye(3) * 1e6, "y": np.eye(2) * 1e-6}
    twice = {k: 2 * v for k, v in a.items()}
    assert metrics.relative_gram_distance(a, a) == 0.0
    assert metrics.relative_gram_distance(twice, a) == pytest.approx(2.0)  # 1 per layer, whatever its scale


# ------------------------------------------------------------------------------------- artefacts


def stripes(period: float, axis: int, amp: float = 0.05, shape=(H, W)) -> np.ndarray:
    n = np.arange(shape[axis])
    wave = amp * np.cos(2 * np.pi * n / period)
    return (wave[:, None] if axis == 0 else wave[None, :])[..., None] * np.ones(shape + (3,))


def checkerboard(amp: float = 0.05, shape=(H, W)) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (amp * (-1.0) ** (yy + xx))[..., None] * np.ones(shape + (3,))


def test_periodic_of_a_smooth_image_is_one():
    a = natural_image(0)
    assert metrics.periodic_score(a, a) == pytest.approx(1.0)
    assert 0.5 < metrics.peak_ratio(a) < 1.5  # no peaks: the window holds what its neighbourhood predicts


@pytest.mark.parametrize("pattern", [stripes(2, 1), stripes(2, 0), stripes(4, 1), stripes(4, 0), checkerboard()],
                         ids=["period2-x", "period2-y", "period4-x", "period4-y", "checkerboard"])
def test_artefact_sees_period_2_and_4(pattern):
    a = natural_image(0)
    assert metrics.periodic_score(np.clip(a + pattern, 0, 1), a) > 5.0
    assert metrics.artefact_score(np.clip(a + pattern, 0, 1), a) > 5.0


def test_periodic_ignores_broadband_texture_that_energy_fraction_counts():
    """Fine texture everywhere (brush strokes, not a grid) barely moves the peak ratio but
    multiplies the plain energy-at-the-points fraction."""
    a = natural_image(0)
    tex = np.clip(a + 0.15 * np.random.default_rng(8).standard_normal(a.shape), 0, 1)
    assert metrics.periodic_score(tex, a) < 2.0
    assert metrics.period_energy_fraction(tex) / metrics.period_energy_fraction(a) > 2.0


def test_periodic_scale_follows_a_resized_grid():
    """Period 4 made at 384 px and shown at 512 px is period 5.33: seen at scale 0.75 only (the
    streak measure sees it at any scale)."""
    a = natural_image(0)
    out = np.clip(a + stripes(4 / 0.75, 1), 0, 1)
    assert metrics.periodic_score(out, a, scale=0.75) > 5.0
    assert metrics.periodic_score(out, a) < 2.0
    assert metrics.streak_score(out, a) > 3.0


def test_artefact_rejects_tiny_images():
    with pytest.raises(ValueError, match="too small"):
        metrics.peak_ratio(np.zeros((16, 16, 3)))
    with pytest.raises(ValueError, match="too small"):
        metrics.streak_level(np.zeros((48, 200, 3)))


# ---------------------------------------------------------------------------- streaks and blotches

PH, PW = 256, 320  # a photo-sized stand-in: several 64 px streak tiles, 80 blotch tiles


def photo_like(seed: int = 0) -> np.ndarray:
    """A colour stand-in photo: a 1/f² luminance (fine detail everywhere, no peaks), a smooth top
    third (a sky, where streaks show) and mild sensor noise, in [0, 1]."""
    rng = np.random.default_rng(seed)
    y = natural_image(seed, (PH, PW))[..., 0]
    sky = np.linspace(0.75, 0.6, PH // 3)[:, None] * np.ones((1, PW))
    y[: PH // 3] = sky + 0.1 * (y[: PH // 3] - y[: PH // 3].mean())
    rgb = np.stack([y, 0.9 * y + 0.05, 0.8 * y + 0.1], axis=-1)
    return np.clip(rgb + 0.004 * rng.standard_normal(rgb.shape), 0, 1)


def horizontal_streaks(period: float, amp: float = 0.06, top: float = 1.0) -> np.ndarray:
    """Long horizontal bands over the top `top` fraction of the image (CIN's the-scream streaks)."""
    out = stripes(period, 0, amp, (PH, PW))
    out[round(top * PH):] = 0.0
    return out


def hatching(period: float, amp: float = 0.05) -> np.ndarray:
    """Diagonal lines at 45° (CIN's wave hatching)."""
    yy, xx = np.mgrid[:PH, :PW]
    return (amp * np.cos(2 * np.pi * (yy + xx) / (period * np.sqrt(2))))[..., None] * np.ones(3)


def test_the_photo_scores_one_on_every_term():
    a = photo_like()
    terms = metrics.artefact_terms(a, a)
    assert terms == pytest.approx({"streaks": 1.0, "blotches": 1.0, "periodic": 1.0, "artefact": 1.0})
    assert metrics.lost_detail_fraction(a, a) == 0.0


@pytest.mark.parametrize("pattern", [horizontal_streaks(12), horizontal_streaks(8, top=0.4),
                                     horizontal_streaks(16), hatching(4.5)],
                         ids=["streaks-12px", "sky-streaks-8px", "streaks-16px", "hatching"])
def test_streaks_raise_the_score(pattern):
    a = photo_like()
    out = np.clip(a + pattern, 0, 1)
    assert metrics.streak_score(out, a) > 3.0
    assert metrics.artefact_score(out, a) > 3.0


def test_streaks_over_the_sky_are_not_lost_detail():
    a = photo_like()
    out = np.clip(a + horizontal_streaks(10, top=0.33), 0, 1)
    assert metrics.streak_score(out, a) > 3.0
    assert metrics.blotch_score(out, a) == pytest.approx(1.0)  # the photo's detail is all there


def test_streaks_grow_with_their_contrast():
    a = photo_like()
    s = [metrics.streak_score(np.clip(a + horizontal_streaks(12, amp), 0, 1), a) for amp in (0.0, 0.01, 0.03, 0.1)]
    assert s[0] == pytest.approx(1.0) and s == sorted(s)


def test_natural_texture_and_noise_do_not_count_as_streaks():
    """Short, varied texture (grain, foliage-like 1/f² texture, noise) spreads its energy over the
    spectrum: no peak."""
    a = photo_like()
    rng = np.random.default_rng(5)
    grain = ndimage.gaussian_filter(rng.standard_normal((PH, PW)), 1.0)
    foliage = natural_image(7, (PH, PW))[..., 0]
    for tex in (0.05 * grain / grain.std(), 0.3 * (foliage - foliage.mean()), 0.08 * rng.standard_normal((PH, PW))):
        out = np.clip(a + tex[..., None], 0, 1)
        assert metrics.streak_score(out, a) < 1.5
        assert metrics.blotch_score(out, a) < 2.0
    other = photo_like(1)
    assert 0.5 < metrics.streak_score(other, a) < 2.0  # another photo: the same kind of spectrum


def test_blotches_raise_the_score_and_grow_with_their_area():
    """A region replaced by a flat or blurred blob (StyleBank's white blobs, small objects gone)."""
    a = photo_like()
    scores = []
    for frac in (0.0, 0.25, 0.5, 1.0):
        out = a.copy()
        rows = slice(PH // 3, PH // 3 + round(frac * (PH - PH // 3)))
        out[rows, : PW // 2] = ndimage.gaussian_filter(a, (6, 6, 0))[rows, : PW // 2]  # blurred away
        out[rows, PW // 2 :] = 0.95  # a white blob
        scores.append(metrics.blotch_score(out, a))
    assert scores[0] == pytest.approx(1.0) and scores == sorted(scores)
    assert scores[1] > 3.0 and scores[3] > 20.0
    assert metrics.artefact_score(out, a) > 20.0
    assert metrics.blotch_score(photo_like(1), a) > 15.0  # an unrelated photo kept nothing


def test_blotches_ignore_tone_changes_and_a_photo_without_detail():
    a = photo_like()
    assert metrics.blotch_score(0.6 * a + 0.3, a) == pytest.approx(1.0)  # contrast and colour, not detail
    flat = np.full((PH, PW, 3), 0.5)
    assert metrics.lost_detail_fraction(a, flat) == 0.0
    with pytest.raises(ValueError, match="same-size"):
        metrics.lost_detail_fraction(a[:-1], a)


# ------------------------------------------------------------------------------------- harness pieces


def test_held_out_is_kodak_then_wikipedia():
    from styljax.train import configs

    assert configs.HELD_OUT == configs.KODAK_HELD_OUT + configs.WIKIPEDIA_HELD_OUT
    assert configs.WIKIPEDIA_HELD_OUT == tuple(f"{i:03d}" for i in range(33, 41))
    assert len(set(configs.HELD_OUT)) == 12


def test_gallery_pairs_cover_every_photo_and_style():
    from bench.quality import gallery_pairs

    photos, styles = ["p1", "p2", "p3"], ["a", "b"]
    pairs = gallery_pairs(photos, styles, 4)
    assert len(pairs) == 4 == len(set(pairs))
    assert {p for p, _ in pairs} == set(photos) and {s for _, s in pairs} == set(styles)
    assert len(gallery_pairs(photos, styles, 100)) == 6


def test_quality_scorer_reports_the_artefact_terms(style_distance):
    """bench.quality's per-output numbers: `artefact` is `metrics.artefact_score` (the photo's
    terms cached), with its three parts beside it, and the table shows them."""
    from bench.quality import Scorer, summarise, table

    scorer = Scorer.__new__(Scorer)  # the fixture's small VGG instead of the 384 px one
    scorer.m, scorer.sd, scorer._photo = metrics, style_distance, {}
    scorer.grams = {"s": style_distance.grams(smooth_image(3))}
    a = photo_like()
    out = np.clip(a + horizontal_streaks(12), 0, 1)
    r = scorer(out, a, "p", "s")
    assert {k: r[k] for k in ("streaks", "blotches", "periodic", "artefact")} == pytest.approx(
        metrics.artefact_terms(out, a))
    assert r["artefact"] == pytest.approx(metrics.artefact_score(out, a)) and r["artefact"] > 3.0
    rows = [{"photo": "p", "style": "s", "seconds": 0.1, **r}]
    md = table([summarise("cin", rows)], [])
    assert "| streaks | blotches | periodic |" in md and f"| {r['streaks']:.1f} |" in md
