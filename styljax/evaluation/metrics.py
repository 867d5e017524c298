"""Numbers for judging a stylization against its photo and its painting (METHODS.md A11).

All three are *proxies*: each sees one thing and can be gamed alone (erase the photo and the style
distance improves; return the photo and the structure is perfect). Read them together, and look
at the pictures.

structure_kept(out, photo)
    Pearson correlation of the Sobel edge-magnitude maps of the two images' luminance (BT.601 Y),
    each first blurred with a Gaussian of σ = 2 px. Same-size images. 1.0 = the photo's edges;
    two unrelated photos score ≈ 0.05.

StyleDistance(vgg).distance(out, painting)
    Σ over VGG-16 relu1_2, relu2_2, relu3_3, relu4_3 of mean((G_out − G_paint)²) / mean(G_paint²),
    G = FᵀF / (H·W·C) (`feature_losses.gram(..., "chw")`), both images first resized to 384 px (longer
    side). 0 = the painting's Gram statistics; each layer's term is relative, so the four layers
    count alike whatever their scale (unlike the raw training loss, the training configs' `KODAK_LOSS`).

artefact_score(out, photo)  (`artefact_terms` gives its parts)
    What a person calls an artefact in a stylization, three ways, each 1.0 at the photo's own level;
    the score is the largest of the three:

    streaks   `streak_score`: long, regular stripes the photo and the painting do not have (CIN's
              8-16 px horizontal streaks in the-scream, its 4-5 px hatching).
    blotches  `blotch_score`: the photo's detail gone (StyleBank's flat or white blobs where small
              objects were).
    periodic  `periodic_score`: the period-2/4 peaks of stride and up-sampling grids (the earlier
              `artefact_score`).

streak_score(out, photo) = streak_level(out) / streak_level(photo)
    How much of an image's texture is a grating. In every 64 px tile (stride 32) of the
    Hann-tapered luminance, the power spectrum plus a white floor of σ = 1/255 (content under one
    grey level does not count) is whitened by its ring level (exp(mean log power) × e^γ over the
    bins at the same integer radius: the mean of a peak-free ring); the tile's value is the largest
    3×3-bin mean of the whitened spectrum at periods 3-32 px. A stripe pattern as long as the tile
    puts its energy in one 3×3 window (100s); brush strokes and photo texture are short and varied
    and spread theirs over the ring (white noise: about 3). `streak_level` is the geometric mean
    over the tiles. At 512 px: four held-out photos 7-19, the six paintings 6-18 (the-scream's sky
    bands the highest), the shipped CIN's outputs 70-145 (×4-25 their photo's); white noise added
    to a photo lowers it.

blotch_score(out, photo) = 1 + 29 × lost_detail_fraction(out, photo)
    Of the photo's detailed 32 px tiles (the half with the most edge energy, Sobel of the σ = 1 px
    blurred luminance), the fraction where the output's edge map correlates with the photo's by
    less than 0.3: the detail is gone or replaced by something unrelated. 1.0 = the photo; 30 = an
    unrelated image, the level of the shipped CIN's worst streaks (a person ranks objects gone
    worse than streaks over them: the gain puts the two on one scale). Stylization moves edges a
    little and adds strokes; it keeps most tiles above 0.3 (the shipped CIN: 0-22 % lost on three
    held-out photos at 512 px), while the shipped StyleBank's blotches lose 47-96 %.

periodic_score(out, photo)  (the period-2/4 peak measure)
    Periodic artefacts (stride-2 / up-sampling checkerboards, period-4 ripples) appear as narrow
    peaks at the period-2 and period-4 frequencies: the 15 points (fy, fx) with fy, fx ∈
    {0, ±¼, ½} cycles/px, (0, 0) excluded, of the 2-D power spectrum of the luminance (lines of
    stripes along one axis land on the axis points, checkerboards off them). The
    measure is the *peak-to-neighbourhood* ratio there, relative to the photo's own:

        peak_ratio(img)   = Σ_p E(window_p) / Σ_p E_expected(window_p)
        periodic_score    = peak_ratio(out) / peak_ratio(photo)          (1.0 = the photo's level)

    For a tool that renders at a smaller size and resizes its result up (the peer: 384 px), the
    points move with the resize (`scale` = 384 / output side: period 4 at 384 px is period 5.3 at
    512 px), else its own stride artefacts fall between the points and go unseen.

    window_p = the spectrum bins within ±2 bins of point p (the main lobe of the Hann taper);
    E_expected = the window's bin count × the power level of the bins around it (a ring out to
    ±10 bins, past a 1-bin guard; for points on an axis, fy = 0 or fx = 0, only the bins along
    that axis, since natural images put extra energy on the axes). The level is exp(mean log
    power) × e^γ (γ = Euler's constant): for a peak-free spectrum that is the mean power (each bin
    exponentially distributed), and unlike the plain mean it is not pulled up by the power-law
    slope across the ring. White noise scores 1.0; a peak-free 1/f² image 0.7-1.2 (a few
    low-frequency points dominate the sums), hence the division by the photo. The luminance is
    mean-removed and Hann-tapered first, so the image border leaks no energy onto the axes.

    Why not energy-at-the-points / total energy (`period_energy_fraction`, kept for comparison):
    a stylized image has far more fine texture than its photo, so that fraction rises with any
    brush stroke, artefact or not. On kodim21 at 512 px, white noise (σ = 0.15) added to the photo
    doubles the fraction (×2.1) and the peer's clean-looking outputs score ×1.2-2.6; the peak
    ratio gives ×1.7 for the noise (about its sampling spread: the next photo scores ×0.9-1.8
    against this one) and ×16 for the shipped CIN's visible period-4 grid. Dividing by the
    neighbourhood cancels broadband texture and keeps narrow, periodic peaks; dividing by the
    photo's own ratio cancels what the photo already had (JPEG block peaks, axis structure).
    Differences under ~2 are noise: look at the pictures.

Everything here is numpy/scipy on (H, W, 3) float images in [0, 1] (jax arrays are accepted),
except `StyleDistance`, which runs the VGG in JAX.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

STYLE_LAYERS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
STYLE_SIZE = 384  # both images' longer side for the style distance
EDGE_SIGMA = 2.0  # px, the Gaussian blur before Sobel
PERIOD_FREQS = (0.0, 0.25, 0.5, -0.25)  # cycles/px on each axis: period 2 (½) and 4 (±¼)
PEAK_HALF_WIDTH = 2  # bins either side of a peak (the Hann main lobe)
RING_HALF_WIDTH = 10  # bins either side of a peak for its neighbourhood
STREAK_TILE = 64  # px, the tiles of `streak_level` (stride half a tile)
STREAK_PERIODS = (3.0, 32.0)  # px, the band of periods `streak_level` looks at
STREAK_FLOOR = 1.0 / 255.0  # σ of the white floor added to every tile's spectrum: under one grey level
BLOTCH_TILE = 32  # px, the tiles of `lost_detail_fraction`
BLOTCH_SIGMA = 1.0  # px, the blur before Sobel for `lost_detail_fraction` (fine detail)
BLOTCH_MIN_CORR = 0.3  # a detailed tile whose edges correlate less with the photo's is lost
BLOTCH_GAIN = 29.0  # blotch_score = 1 + gain × fraction lost: 30 for an unrelated image


def luminance(img: Any) -> np.ndarray:
    """BT.601 luma Y (H, W) float64 of an (H, W, 3) RGB image (an (H, W) image passes through)."""
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 2:
        return a
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) or (H, W) image, got shape {a.shape}")
    return a @ np.array([0.299, 0.587, 0.114])


def edge_magnitude(img: Any, sigma: float = EDGE_SIGMA) -> np.ndarray:
    """Sobel gradient magnitude (H, W) of the Gaussian-blurred (σ px, reflect borders) luminance."""
    y = ndimage.gaussian_filter(luminance(img), sigma, mode="reflect")
    return np.hypot(ndimage.sobel(y, axis=0, mode="reflect"), ndimage.sobel(y, axis=1, mode="reflect"))


def structure_kept(out: Any, photo: Any, sigma: float = EDGE_SIGMA) -> float:
    """Pearson correlation of `edge_magnitude(out)` and `edge_magnitude(photo)` (same-size images).

    A flat image (no edges at all) has no defined correlation: it scores 0.
    """
    a, b = edge_magnitude(out, sigma), edge_magnitude(photo, sigma)
    if a.shape != b.shape:
        raise ValueError(f"structure_kept needs same-size images, got {a.shape} and {b.shape}")
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


# ---------------------------------------------------------------------------------- style distance


def relative_gram_distance(grams: Mapping[str, Any], ref: Mapping[str, Any]) -> float:
    """Σ over `ref`'s layers of mean((G − A)²) / mean(A²) for Grams (C, C) per layer."""
    total = 0.0
    for layer, a in ref.items():
        a = np.asarray(a, np.float64)
        g = np.asarray(grams[layer], np.float64)
        total += float(np.mean((g - a) ** 2) / max(np.mean(a * a), 1e-30))
    return total


class StyleDistance:
    """The relative Gram distance of METHODS.md A11 on a loss network (`styljax.nets.vgg.VggWeights`).

    `grams(img)` gives an image's Grams (resized to `size` px longer side first); `distance(a, b)`
    takes images or `grams` results, so a painting's Grams can be computed once and reused.
    """

    def __init__(self, vgg, layers: Sequence[str] = STYLE_LAYERS, size: int = STYLE_SIZE):
        import jax

        from styljax.losses import feature_losses

        self.layers, self.size = tuple(layers), size
        extract = vgg.extractor(self.layers)
        params = vgg.params

        def grams(x):
            f = extract(params, x[None])
            return {l: feature_losses.gram(f[l], "chw")[0] for l in self.layers}

        self._grams = jax.jit(grams)  # one compilation per input shape

    def grams(self, img: Any) -> dict[str, np.ndarray]:
        from styljax.io import image
        from styljax.imaging import geometry

        x = np.asarray(img, np.float32)
        hw = image.fit_max_side(*x.shape[:2], self.size)
        if hw != x.shape[:2]:
            x = np.asarray(geometry.resize(x, hw))
        return {k: np.asarray(v) for k, v in self._grams(x).items()}

    def _as_grams(self, x: Any) -> Mapping[str, Any]:
        return x if isinstance(x, Mapping) else self.grams(x)

    def distance(self, out: Any, painting: Any) -> float:
        """Relative Gram distance of `out` to `painting` (each an image or its `grams`)."""
        return relative_gram_distance(self._as_grams(out), self._as_grams(painting))

    def distances(self, out: Any, paintings: Mapping[str, Any]) -> dict[str, float]:
        """{name: distance} of `out` (one VGG pass) to each painting (images or Grams)."""
        g = self._as_grams(out)
        return {k: relative_gram_distance(g, self._as_grams(p)) for k, p in paintings.items()}


def style_distance(vgg, out: Any, painting: Any, size: int = STYLE_SIZE) -> float:
    """One-off `StyleDistance(vgg, size=size).distance(out, painting)` (compiles each call's shapes)."""
    return StyleDistance(vgg, size=size).distance(out, painting)


# ------------------------------------------------------------------------------ periodic artefacts


def power_spectrum(img: Any) -> np.ndarray:
    """|FFT2|² (H, W) of the mean-removed, Hann-tapered luminance (unshifted: bin k = k/N cycles/px)."""
    y = luminance(img)
    h, w = y.shape
    taper = np.outer(np.hanning(h), np.hanning(w))
    return np.abs(np.fft.fft2((y - y.mean()) * taper)) ** 2


def _circ_offsets(n: int, centre: float) -> np.ndarray:
    """Signed circular distance (bins) of every bin 0..n-1 from the fractional bin `centre`."""
    d = (np.arange(n) - centre) % n
    return np.where(d > n / 2, d - n, d)


def _period_points(scale: float = 1.0) -> list[tuple[float, float]]:
    """The period-2/4 points (fy, fx), cycles/px, of an image resized by 1/`scale` after the
    artefacts were made (made at 384 px, shown at 512 px: scale = 0.75; made at 384, shown at 256:
    1.5). Frequencies past ½ are gone (an antialiased downscale removes them); ±½ are one."""
    axis = []
    for f in PERIOD_FREQS + (-0.5,):
        g = f * scale
        if abs(g) <= 0.5 + 1e-9 and not any(abs((g - h + 0.5) % 1.0 - 0.5) < 1e-9 for h in axis):
            axis.append(g)
    return [(fy, fx) for fy in axis for fx in axis if (fy, fx) != (0.0, 0.0)]


def periodic_peaks(img: Any, scale: float = 1.0, peak: int = PEAK_HALF_WIDTH, ring: int = RING_HALF_WIDTH) -> dict:
    """Per period-2/4 point (fy, fx): the energy in its window and the energy its neighbourhood
    predicts there. {"points": [(fy, fx), ...], "peak": [...], "expected": [...]} (see module doc).
    `scale` = the size the image was made at / its size: the points move to f·scale."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    p = power_spectrum(img)
    h, w = p.shape
    if min(h, w) < 4 * (ring + 2):
        raise ValueError(f"image too small for the periodic-peak measure: {h}x{w}, need >= {4 * (ring + 2)} px")
    out = {"points": [], "peak": [], "expected": []}
    for fy, fx in _period_points(scale):
        dy, dx = np.abs(_circ_offsets(h, fy * h)), np.abs(_circ_offsets(w, fx * w))
        iy, ix = np.flatnonzero(dy <= ring + 1.5), np.flatnonzero(dx <= ring + 1.5)
        sub = p[np.ix_(iy, ix)]
        ay, ax = dy[iy][:, None], dx[ix][None, :]
        win = (ay <= peak + 0.5) & (ax <= peak + 0.5)
        guard = (ay <= peak + 1.5) & (ax <= peak + 1.5)
        bg = (ay <= ring + 0.5) & (ax <= ring + 0.5) & ~guard
        if fy == 0.0:  # on the fx axis: compare with the bins along it
            bg &= ay <= peak + 0.5
        if fx == 0.0:
            bg &= ax <= peak + 0.5
        out["points"].append((fy, fx))
        out["peak"].append(float(sub[win].sum()))
        # the neighbourhood's level as exp(mean log power) × e^γ: the mean of the exponentially
        # distributed power of a peak-free spectrum, unbiased by a power-law (log-linear) slope across
        # the ring, which the plain mean of the ring would overestimate
        level = np.exp(np.mean(np.log(sub[bg] + 1e-300)) + np.euler_gamma)
        out["expected"].append(float(level * win.sum()))
    return out


def peak_ratio(img: Any, scale: float = 1.0) -> float:
    """Σ window energy / Σ neighbourhood-predicted energy over the period-2/4 points (≈ 1 without peaks)."""
    pk = periodic_peaks(img, scale)
    return float(sum(pk["peak"]) / max(sum(pk["expected"]), 1e-30))


def periodic_score(out: Any, photo: Any, scale: float = 1.0) -> float:
    """`peak_ratio(out) / peak_ratio(photo)` (same points for both): 1.0 = no more period-2/4
    peaks than the photo has. `scale`: see `periodic_peaks`."""
    return peak_ratio(out, scale) / peak_ratio(photo, scale)


def _tiles(y: np.ndarray, tile: int, stride: int) -> np.ndarray:
    """(N, tile, tile) views of the tiles of `y` at `stride` (the last row/column of tiles flush
    with the far edge, so every pixel is in one)."""
    h, w = y.shape
    if min(h, w) < tile:
        raise ValueError(f"image too small for {tile} px tiles: {h}x{w}")
    iy = sorted(set(range(0, h - tile + 1, stride)) | {h - tile})
    ix = sorted(set(range(0, w - tile + 1, stride)) | {w - tile})
    win = np.lib.stride_tricks.sliding_window_view(y, (tile, tile))
    return win[np.ix_(iy, ix)].reshape(-1, tile, tile)


def streak_levels(img: Any, tile: int = STREAK_TILE, periods: tuple[float, float] = STREAK_PERIODS,
                  floor: float = STREAK_FLOOR) -> np.ndarray:
    """Per tile (`tile` px, stride tile/2): the largest 3×3-bin mean of the tile's whitened power
    spectrum at periods `periods` (px), see the module doc. ≈ 3 for white noise; a grating: 100s."""
    t = _tiles(luminance(img), tile, tile // 2)
    t = t - t.mean(axis=(1, 2), keepdims=True)
    taper = np.outer(np.hanning(tile), np.hanning(tile))
    p = np.abs(np.fft.fft2(t * taper)) ** 2 + floor**2 * (taper**2).sum()
    f = np.fft.fftfreq(tile)
    radius = np.hypot(f[:, None], f[None, :]) * tile  # bins
    ring = np.rint(radius).astype(int).ravel()
    logp = np.log(p).reshape(len(p), -1)
    counts = np.bincount(ring)
    level = np.stack([np.bincount(ring, weights=row, minlength=len(counts)) for row in logp]) / np.maximum(counts, 1)
    white = p / np.exp(level + np.euler_gamma)[:, ring].reshape(p.shape)
    window = ndimage.uniform_filter(white, size=(1, 3, 3), mode="wrap")  # a peak's Hann main lobe
    band = (radius >= tile / periods[1]) & (radius <= tile / periods[0])
    return window[:, band].max(axis=1)


def streak_level(img: Any, **kw) -> float:
    """Geometric mean over the tiles of `streak_levels`: how much of the texture is a grating."""
    return float(np.exp(np.mean(np.log(streak_levels(img, **kw)))))


def streak_score(out: Any, photo: Any, **kw) -> float:
    """`streak_level(out) / streak_level(photo)`: 1.0 = as little grating as the photo."""
    return streak_level(out, **kw) / streak_level(photo, **kw)


def lost_detail_fraction(out: Any, photo: Any, tile: int = BLOTCH_TILE, sigma: float = BLOTCH_SIGMA,
                         min_corr: float = BLOTCH_MIN_CORR) -> float:
    """Of the photo's detailed `tile` px tiles (the half with the most edge energy), the fraction
    whose output edges (`edge_magnitude` at σ = `sigma`) correlate with the photo's by less than
    `min_corr` (a flat tile, no edges, counts as lost). 0 = every detailed tile kept; 0 for a
    photo with no edges at all."""
    eo, ep = edge_magnitude(out, sigma), edge_magnitude(photo, sigma)
    if eo.shape != ep.shape:
        raise ValueError(f"lost_detail_fraction needs same-size images, got {eo.shape} and {ep.shape}")
    a, b = _tiles(ep, tile, tile).reshape(-1, tile * tile), _tiles(eo, tile, tile).reshape(-1, tile * tile)
    detail = a.mean(axis=1)
    keep = (detail >= np.median(detail)) & (detail > 1e-6)
    if not keep.any():
        return 0.0
    a, b = a[keep] - a[keep].mean(axis=1, keepdims=True), b[keep] - b[keep].mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    corr = np.where(den > 0, (a * b).sum(axis=1) / np.maximum(den, 1e-30), 0.0)
    return float(np.mean(corr < min_corr))


def blotch_score(out: Any, photo: Any, **kw) -> float:
    """`1 + 29 × lost_detail_fraction(out, photo)`: 1.0 = the photo's detail all there, 30 = none."""
    return 1.0 + BLOTCH_GAIN * lost_detail_fraction(out, photo, **kw)


def artefact_terms(out: Any, photo: Any, scale: float = 1.0) -> dict[str, float]:
    """{"streaks", "blotches", "periodic", "artefact"}: the three parts (each 1.0 at the photo's
    level) and `artefact_score`, their largest. `scale` moves the periodic points (`periodic_peaks`)."""
    terms = {"streaks": streak_score(out, photo), "blotches": blotch_score(out, photo),
             "periodic": periodic_score(out, photo, scale)}
    return {**terms, "artefact": max(terms.values())}


def artefact_score(out: Any, photo: Any, scale: float = 1.0) -> float:
    """The largest of `streak_score`, `blotch_score` and `periodic_score` (see the module doc):
    1.0 = the photo's own level."""
    return artefact_terms(out, photo, scale)["artefact"]


def period_energy_fraction(img: Any, scale: float = 1.0, peak: int = PEAK_HALF_WIDTH) -> float:
    """Energy in the ±`peak`-bin windows at the period-2/4 points / total energy (mean-removed,
    tapered luminance). The plain measure; see the module doc for why `artefact_score` divides by
    the neighbourhood instead."""
    p = power_spectrum(img)
    h, w = p.shape
    mask = np.zeros_like(p, dtype=bool)
    for fy, fx in _period_points(scale):
        my = np.abs(_circ_offsets(h, fy * h)) <= peak + 0.5
        mx = np.abs(_circ_offsets(w, fx * w)) <= peak + 0.5
        mask |= my[:, None] & mx[None, :]
    return float(p[mask].sum() / max(p.sum(), 1e-30))
