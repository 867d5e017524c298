"""Tiled rendering (`styljax.runtime.tiling`): coverage, partition of unity, exactness for crop-commuting maps."""

import numpy as np
import pytest

from styljax.runtime import tiling


@pytest.mark.parametrize("n, tile, overlap", [(100, 32, 8), (1000, 256, 64), (257, 256, 64), (64, 64, 16), (40, 64, 16)])
def test_tile_starts_cover_with_overlap(n, tile, overlap):
    starts = tiling.tile_starts(n, tile, overlap)
    t = min(tile, n)
    assert starts[0] == 0 and starts[-1] + t == n
    assert all(b - a <= t - overlap for a, b in zip(starts, starts[1:]))  # overlap >= requested
    assert starts == sorted(set(starts))


def test_tile_starts_errors():
    with pytest.raises(ValueError, match="overlap"):
        tiling.tile_starts(100, 32, 32)
    with pytest.raises(ValueError):
        tiling.tile_starts(100, 0, 0)


@pytest.mark.parametrize("n, tile, overlap", [(100, 32, 8), (77, 30, 11), (64, 64, 16)])
def test_ramps_are_a_partition_of_unity(n, tile, overlap):
    starts = tiling.tile_starts(n, tile, overlap)
    total = np.zeros(n)
    for i, s in enumerate(starts):
        w = tiling.ramp(starts, tile, i)
        assert w.min() > 0 and w.max() <= 1
        total[s : s + tile] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_map_tiles_is_exact_for_pointwise_maps():
    img = np.random.default_rng(0).uniform(size=(70, 113, 3)).astype(np.float32)
    calls = []

    def fn(t):
        calls.append(t.shape)
        return np.concatenate([2 * t + 1, t[..., :1] ** 2], axis=-1)  # 3 -> 4 channels

    out, info = tiling.map_tiles(fn, img, tile=32, overlap=8)
    assert out.shape == (70, 113, 4) and info["tiles"] == len(calls) > 1
    assert set(calls) == {(1, 32, 32, 3)}  # one tile shape: one compilation of a jitted fn
    assert info["min_overlap"] >= 8
    np.testing.assert_allclose(out, fn(img[None])[0], atol=1e-5)


def test_map_tiles_with_a_big_tile_is_one_call():
    img = np.random.default_rng(1).uniform(size=(20, 30, 3)).astype(np.float32)
    out, info = tiling.map_tiles(lambda t: t[..., ::-1], img, tile=64)
    assert info["tiles"] == 1 and info["tile"] == [20, 30]
    np.testing.assert_array_equal(out, img[..., ::-1])
