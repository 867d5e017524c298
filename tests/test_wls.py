import numpy as np
import scipy.sparse

from styljax.imaging import wls


def _two_region_guide(h=24, w=32):
    g = np.full((h, w, 3), 0.2, np.float32)
    g[:, w // 2 :] = 0.8  # one strong vertical edge
    return g


def test_matrix_is_symmetric_with_unit_row_sums():
    """I + λL: symmetric, and (I + λL)·1 = 1 (L annihilates constants), so constants are kept."""
    m = wls.smoothing_matrix(_two_region_guide(), lam=0.8)
    assert abs(m - m.T).max() < 1e-9
    np.testing.assert_allclose(m @ np.ones(m.shape[0]), 1.0, atol=1e-9)
    assert scipy.sparse.issparse(m) and m.nnz <= 5 * m.shape[0]


def test_smoothing_is_edge_aware():
    rng = np.random.default_rng(0)
    guide = _two_region_guide()
    noisy = guide + rng.normal(0, 0.05, guide.shape).astype(np.float32)
    out = wls.wls_smooth(noisy, guide)
    left, right = out[:, :14], out[:, 18:]
    assert left.std() < 0.5 * noisy[:, :14].std() and right.std() < 0.5 * noisy[:, 18:].std()  # noise smoothed
    assert right.mean() - left.mean() > 0.55  # the 0.6 step across the guide's edge survives


def test_refine_keeps_detail_and_takes_base_colour():
    rng = np.random.default_rng(1)
    a = np.clip(0.5 + rng.normal(0, 0.03, (20, 20, 3)), 0, 1).astype(np.float32)  # detail on a flat base
    a_prime = np.full_like(a, 0.3)  # a flat recolouring
    out = wls.refine(a, a_prime)
    np.testing.assert_allclose(out.mean(axis=(0, 1)), 0.3, atol=0.02)  # base from A'
    assert np.corrcoef((out - out.mean()).ravel(), (a - a.mean()).ravel())[0, 1] > 0.9  # detail from A
