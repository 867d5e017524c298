"""PatchMatch (`styljax.optimization.patchmatch`): recovery of known correspondences, agreement with brute force,
bounds, batching, determinism, voting, NNF upsampling and flow colouring."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax.io import image
from styljax.optimization import patchmatch as pm

KEY = jax.random.key(0)
SIZE, CH = 32, 8


def noise(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def smooth_noise(shape, seed, passes=3):
    """Noise blurred by `passes` 3x3 box filters (wrapping): structured but ambiguous features."""
    x = noise(shape, seed)
    for _ in range(passes):
        x = sum(np.roll(x, (dy, dx), axis=(0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    return x


def grid(h, w):
    return np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), axis=-1)


def naive_distance(a, b, p, q, r, a2=None, b2=None):
    """The official per-pair loop: skip offsets outside either map, average over the rest."""
    norm = lambda f: f / (np.linalg.norm(f, axis=-1, keepdims=True) + 1e-8)
    fa, fb = norm(a), norm(b)
    fa2, fb2 = (norm(a2), norm(b2)) if a2 is not None else (None, None)
    total, count = 0.0, 0
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            ya, xa, yb, xb = p[0] + dy, p[1] + dx, q[0] + dy, q[1] + dx
            in_a = 0 <= ya < a.shape[0] and 0 <= xa < a.shape[1]
            if in_a and 0 <= yb < b.shape[0] and 0 <= xb < b.shape[1]:
                total -= fa[ya, xa] @ fb[yb, xb]
                if fa2 is not None:
                    total -= fa2[ya, xa] @ fb2[yb, xb]
                count += 1
    return total / count


def test_recovers_an_integer_shift():
    world = noise((40, 40, CH), 0)
    a, b = world[4:36, 4:36], world[1:33, 6:38]  # a[y, x] = b[y + 3, x - 2]
    nnf = np.asarray(pm.patchmatch(a, b, key=KEY))
    target = grid(SIZE, SIZE) + (3, -2)
    inside = np.all((target >= 1) & (target <= SIZE - 2), axis=-1)  # whole patch in b
    inside[[0, -1]] = inside[:, [0, -1]] = False  # and in a
    assert inside.sum() > 500
    np.testing.assert_array_equal(nnf[inside], target[inside])


def test_recovers_a_smooth_warp():
    b = noise((SIZE, SIZE, CH), 1)
    y, x = np.meshgrid(np.arange(SIZE), np.arange(SIZE), indexing="ij")
    disp = np.stack([np.sin(2 * np.pi * x / SIZE), np.cos(2 * np.pi * y / SIZE + 1)], -1)
    disp = np.rint(2.5 * disp)  # smooth, integer, up to ±3 px
    target = np.clip(grid(SIZE, SIZE) + disp.astype(int), 0, SIZE - 1)
    a = b[target[..., 0], target[..., 1]]  # a[p] = b[p + d(p)]
    nnf = np.asarray(pm.patchmatch(a, b, key=KEY))
    interior = np.all((target >= 2) & (target <= SIZE - 3), axis=-1)
    exact = np.all(nnf == target, axis=-1)[interior]
    assert exact.mean() > 0.9, exact.mean()


def test_distance_close_to_brute_force_on_smooth_features():
    a, b = smooth_noise((SIZE, SIZE, CH), 2), smooth_noise((SIZE, SIZE, CH), 3)
    d_pm = float(pm.patch_distance(a, b, pm.patchmatch(a, b, key=KEY)).mean())
    d_exact = float(pm.patch_distance(a, b, pm.exact_nnf(a, b)).mean())
    assert d_exact <= d_pm <= 0.97 * d_exact  # distances are negative: within 3% of the optimum


def test_never_points_outside_b():
    a, b = noise((24, SIZE, CH), 4), noise((17, 29, CH), 5)
    init = jnp.asarray(noise((24, SIZE, 2), 6) * 100).astype(jnp.int32)  # far outside b
    for nnf in (pm.patchmatch(a, b, key=KEY, iters=1, init=init, radius=4), pm.exact_nnf(a, b, block=5)):
        nnf = np.asarray(nnf)
        assert nnf.shape == (24, SIZE, 2) and nnf.dtype == np.int32
        assert nnf.min() >= 0 and nnf[..., 0].max() < 17 and nnf[..., 1].max() < 29


def test_never_gets_worse_than_init():
    a, b = smooth_noise((SIZE, SIZE, CH), 7), smooth_noise((SIZE, SIZE, CH), 8)
    init = pm.exact_nnf(a, b)
    nnf = pm.patchmatch(a, b, key=KEY, iters=1, init=init)
    np.testing.assert_array_equal(nnf, init)  # already optimal; ties never replace
    start = pm.patchmatch(a, b, key=KEY, iters=1)
    better = pm.patchmatch(a, b, key=jax.random.key(1), iters=1, init=start)
    assert np.all(pm.patch_distance(a, b, better) <= pm.patch_distance(a, b, start))


def test_vmap_equals_unbatched():
    a, b = noise((2, SIZE, SIZE, CH), 9), noise((2, SIZE, SIZE, CH), 10)
    run = lambda a, b: pm.patchmatch(a, b, key=KEY, iters=1)
    batched = jax.vmap(run)(a, b)
    for i in range(2):
        np.testing.assert_array_equal(batched[i], run(a[i], b[i]))


def test_deterministic_per_key():
    a, b = noise((SIZE, SIZE, CH), 11), noise((SIZE, SIZE, CH), 12)
    run = lambda key: np.asarray(pm.patchmatch(a, b, key=key, iters=1))
    np.testing.assert_array_equal(run(jax.random.key(3)), run(jax.random.key(3)))
    assert np.any(run(jax.random.key(3)) != run(jax.random.key(4)))


def test_bidirectional_distance_recovers_the_shift():
    world, world2 = noise((40, 40, CH), 13), noise((40, 40, 4), 14)
    a, b, a2, b2 = world[4:36, 4:36], world[1:33, 6:38], world2[4:36, 4:36], world2[1:33, 6:38]
    nnf = np.asarray(pm.patchmatch(a, b, a2=a2, b2=b2, key=KEY))
    np.testing.assert_array_equal(nnf[4:-4, 4:-4], (grid(SIZE, SIZE) + (3, -2))[4:-4, 4:-4])
    d = pm.patch_distance(a, b, nnf, a2=a2, b2=b2)
    np.testing.assert_allclose(d[4:-4, 4:-4], -2.0, atol=1e-5)  # both terms perfect


@pytest.mark.parametrize("patch_size, bidirectional", [(3, False), (5, False), (3, True)])
def test_exact_and_distance_match_a_naive_loop(patch_size, bidirectional):
    r = patch_size // 2
    a, b = noise((6, 7, 4), 15), noise((5, 8, 4), 16)
    a2, b2 = (noise((6, 7, 3), 17), noise((5, 8, 3), 18)) if bidirectional else (None, None)
    d = np.array([[[[naive_distance(a, b, (y, x), (v, u), r, a2, b2) for u in range(8)] for v in range(5)]
                   for x in range(7)] for y in range(6)])  # (6, 7, 5, 8)
    want = np.stack(np.unravel_index(d.reshape(6, 7, -1).argmin(-1), (5, 8)), -1)
    for block in (None, 4):  # 4 does not divide 6: the last block is padded
        got = pm.exact_nnf(a, b, a2=a2, b2=b2, patch_size=patch_size, block=block)
        np.testing.assert_array_equal(got, want)
    nnf = noise((6, 7, 2), 19) * 4
    nnf = np.clip(np.rint(np.abs(nnf)), 0, [4, 7]).astype(np.int32)
    dist = pm.patch_distance(a, b, nnf, patch_size, a2, b2)
    want_d = d[np.arange(6)[:, None], np.arange(7)[None], nnf[..., 0], nnf[..., 1]]
    np.testing.assert_allclose(dist, want_d, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hw, channels, patch_size, want", [
    ((28, 28), 1024, 3, "exact"),  # relu5_1 of a 448 px pair (both terms: 2 x 512 channels)
    ((112, 112), 512, 3, "exact"),  # relu3_1 at 448 px
    ((112, 112), 256, 5, "exact"),  # relu2_1 at 224 px
    ((224, 224), 256, 5, "patchmatch"),  # relu2_1 at 448 px
    ((224, 224), 128, 5, "patchmatch"),  # relu1_1 at 224 px
    ((448, 448), 128, 5, "patchmatch"),  # relu1_1 at 448 px
])
def test_nnf_method_follows_the_measured_crossover(hw, channels, patch_size, want):
    """Whole-map search: the faster method of the measured DIA-level table (BENCHMARKS.md)."""
    assert pm.nnf_method(hw, hw, channels, patch_size, 10, None) == want


def test_nnf_method_keeps_a_local_search():
    """With a radius smaller than B, PatchMatch is not approximating the global optimum: never swapped."""
    assert pm.nnf_method((28, 28), (28, 28), 1024, 3, 10, 6) == "patchmatch"
    assert pm.nnf_method((28, 28), (28, 28), 1024, 3, 10, 28) == "exact"


def test_nnf_method_switches_once_as_b_grows():
    picks = [pm.nnf_method((64, 64), (s, s), 256, 5, 10) for s in range(8, 400, 8)]
    flips = sum(a != b for a, b in zip(picks, picks[1:]))
    assert picks[0] == "exact" and picks[-1] == "patchmatch" and flips == 1
    # fewer iterations make PatchMatch cheaper: the switch comes no later
    assert pm.nnf_method((64, 64), (150, 150), 256, 5, 10) == "exact"
    assert pm.nnf_method((64, 64), (150, 150), 256, 5, 2) == "patchmatch"


def test_vote_identity_and_shift():
    src = noise((12, 14, 3), 20)
    np.testing.assert_allclose(pm.vote(src, pm.identity_nnf((12, 14)), 3), src, atol=1e-6)
    shifted = np.clip(grid(12, 14) + (2, -1), 0, [11, 13]).astype(np.int32)  # out(p) = src[p + (2, -1)]
    out = np.asarray(pm.vote(src, shifted, 5))
    np.testing.assert_allclose(out[2:-4, 3:-2], src[4:-2, 2:-3], atol=1e-6)


def test_upsample_nnf():
    np.testing.assert_array_equal(pm.upsample_nnf(pm.identity_nnf((8, 8)), (16, 16), (16, 16)), grid(16, 16))
    up = pm.upsample_nnf(pm.identity_nnf((5, 7)), (10, 14), (10, 14), src_b_hw=(5, 7))
    np.testing.assert_array_equal(up, grid(10, 14))
    shift = np.clip(grid(8, 8) + (1, -1), 0, 7).astype(np.int32)
    up = np.asarray(pm.upsample_nnf(shift, (16, 16), (16, 16)))
    np.testing.assert_array_equal(up[2:12, 4:], (grid(16, 16) + (2, -2))[2:12, 4:])
    # B twice A's size at both levels: matches scale with B, not A
    into_big_b = np.asarray(pm.upsample_nnf(shift, (16, 16), (32, 32), src_b_hw=(16, 16)))
    np.testing.assert_array_equal(into_big_b, 2 * shift.repeat(2, 0).repeat(2, 1) + grid(16, 16) % 2)
    small_b = np.asarray(pm.upsample_nnf(shift, (16, 16), (5, 6), src_b_hw=(8, 8)))
    assert small_b.min() >= 0 and small_b[..., 0].max() <= 4 and small_b[..., 1].max() <= 5


def test_flow_and_colours(tmp_path):
    ident = pm.identity_nnf((9, 11))
    np.testing.assert_array_equal(pm.nnf_to_flow(ident), np.zeros((9, 11, 2)))
    rgb = np.asarray(pm.flow_to_rgb(pm.nnf_to_flow(ident)))
    assert rgb.dtype == np.uint8 and rgb.shape == (9, 11, 3) and np.all(rgb == 255)  # zero flow: white
    flow = np.zeros((2, 2, 2), np.float32)
    flow[0, 0] = (0, 3)  # right: red
    flow[0, 1] = (-3, 0)  # up: hue 3/4, violet
    rgb = np.asarray(pm.flow_to_rgb(flow, max_norm=3.0))
    np.testing.assert_array_equal(rgb[0, 0], [255, 0, 0])
    assert rgb[0, 1, 2] == 255 and rgb[0, 1, 1] == 0
    np.testing.assert_array_equal(rgb[1], 255)
    path = image.save_image(tmp_path / "flow.png", rgb)
    assert path.stat().st_size > 0


def test_rejects_bad_arguments():
    a = noise((8, 8, 4), 21)
    with pytest.raises(ValueError, match="odd"):
        pm.patchmatch(a, a, key=KEY, patch_size=4)
    with pytest.raises(ValueError, match="a2"):
        pm.exact_nnf(a, a, a2=a)
    with pytest.raises(ValueError, match="equal C"):
        pm.patch_distance(a, a[..., :3], pm.identity_nnf((8, 8)))
