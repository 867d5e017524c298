"""Deep Image Analogy on random small VGG weights and tiny images (the real-weight run is a benchmark)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax.nets import vgg
from styljax.optimization import analogy
from styljax.errors import StyljaxError

FAST = analogy.AnalogyConfig(iters=3, deconv_iters=3)


@pytest.fixture(scope="module")
def w16():
    return vgg.random_weights(16, jax.random.key(0))


def _image(h, w, seed=0):
    """A smooth random colour image (random walks of blobs), so features are not white noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(h // 8 + 2, w // 8 + 2, 3)).astype(np.float32)
    return np.asarray(jax.image.resize(jnp.asarray(x), (h, w, 3), "cubic")).clip(0, 1)


def test_response_mask_step_and_sigmoid():
    f = jnp.zeros((4, 4, 2)).at[0, 0, 0].set(10.0).at[1, 1, 1].set(1.0)  # responses 100, 1, 0 → 1, 0.01, 0
    step = analogy.response_mask(f, 0.8, analogy.AnalogyConfig())
    assert step.shape == (4, 4, 1)
    assert float(step[0, 0, 0]) == pytest.approx(0.8) and float(step[1, 1, 0]) == 0.0 and float(step.sum()) == pytest.approx(0.8)
    sig = analogy.response_mask(f, 0.8, analogy.AnalogyConfig(mask="sigmoid"))
    assert float(sig[0, 0, 0]) == pytest.approx(0.8, abs=1e-6)
    assert 0.0 < float(sig[1, 1, 0]) < 0.8 * 1e-4  # σ(300·(0.01 − 0.05)) ≈ 6e-6


def test_deconvolve_inverts_a_vgg_piece(w16):
    """L-BFGS finds R with VGG_{relu1_1→relu2_1}(R) ≈ target, from a perturbed start."""
    x = jnp.asarray(_image(16, 16, seed=3))[None]
    f = vgg.features(w16, x, ["relu1_1", "relu2_1"])
    sub = lambda r: w16.extractor(["relu2_1"], start="relu1_1")(w16.params, r[None])["relu2_1"][0]
    init = f["relu1_1"][0] * 0.5
    cfg = analogy.AnalogyConfig(deconv_iters=60)
    r, _ = jax.jit(lambda t, i: analogy.deconvolve(sub, t, i, cfg))(f["relu2_1"][0], init)
    before = float(jnp.sum(jnp.square(sub(init) - f["relu2_1"][0])))
    after = float(jnp.sum(jnp.square(sub(r) - f["relu2_1"][0])))
    assert after < 0.01 * before, (before, after)


def test_analogy_of_an_image_with_itself_is_the_identity(w16):
    a = _image(64, 80, seed=1)
    res = analogy.analogy(w16, a, a, dataclasses.replace(FAST, nnf="auto"))
    rows, cols = np.mgrid[:64, :80]
    for nnf in (res.nnf_ab, res.nnf_ba):
        assert nnf.shape == (64, 80, 2) and nnf.dtype == np.int32
        exact = (nnf[..., 0] == rows) & (nnf[..., 1] == cols)
        assert exact.mean() > 0.95
    np.testing.assert_allclose(res.a_prime, a, atol=0.05)
    np.testing.assert_allclose(res.b, a, atol=0.05)
    assert set(res.seconds) == {"vgg", "patchmatch", "deconv", "vote"} and "VGG-16" in res.network
    # per-level log: the brute force where the search is whole-map (relu5_1) and the map tiny;
    # the local searches stay PatchMatch
    assert [lv["layer"] for lv in res.levels] == list(analogy.LEVELS)
    assert [lv["nnf_ab"] for lv in res.levels] == [lv["nnf_ba"] for lv in res.levels] == ["exact"] + ["patchmatch"] * 4
    assert all(1 <= s <= FAST.deconv_iters for lv in res.levels[:-1] for s in lv["deconv_steps"])


@pytest.mark.slow
def test_different_sizes_ratio_and_outputs_in_range(w16):
    a, bp = _image(88, 96, seed=2), _image(96, 88, seed=4)  # × ratio 0.75: 66×72 and 72×66
    res = analogy.analogy(w16, a, bp, analogy.AnalogyConfig(iters=2, deconv_iters=2, ratio=0.75, blend_level=2))
    assert res.a_prime.shape == a.shape and res.b.shape == bp.shape
    assert res.nnf_ab.shape == (88, 96, 2) and res.nnf_ba.shape == (96, 88, 2)
    assert (res.nnf_ab >= 0).all() and (res.nnf_ab[..., 0] < 96).all() and (res.nnf_ab[..., 1] < 88).all()
    assert (res.nnf_ba >= 0).all() and (res.nnf_ba[..., 0] < 88).all() and (res.nnf_ba[..., 1] < 96).all()
    # A' is made of B' pixels: its colours lie in B''s colour range
    assert res.a_prime.min() >= bp.min() - 1e-5 and res.a_prime.max() <= bp.max() + 1e-5


def test_tiny_images_and_bad_config_are_refused():
    with pytest.raises(StyljaxError, match="too small"):
        analogy.check_size((60, 200), 1.0, "A")
    with pytest.raises(StyljaxError, match="too small"):
        analogy.check_size((100, 100), 0.5, "A")
    for bad in (dict(nnf="fast"), dict(blend_level=4), dict(mask="box"), dict(ratio=0.0), dict(radii=(None,))):
        with pytest.raises(ValueError):
            analogy.AnalogyConfig(**bad)


def test_cli_writes_every_output_and_refuses_tiny_images(w16, tmp_path, capsys):
    from styljax.infer.cli import main
    from styljax.io import image, weights

    weights.save_npz(w16, tmp_path / "vgg.npz")
    a, bp = _image(64, 80, seed=1), _image(64, 80, seed=5)
    image.save_image(tmp_path / "a.png", a)
    image.save_image(tmp_path / "bp.png", bp)
    image.save_image(tmp_path / "tiny.png", a[:40])
    common = ["--weights", str(tmp_path / "vgg.npz"), "--iters", "3", "--deconv-iters", "3", "--quiet"]
    out = tmp_path / "out"
    assert main(["analogy", str(tmp_path / "a.png"), str(tmp_path / "bp.png"), "--out-dir", str(out), *common]) == 0
    assert "patchmatch" in capsys.readouterr().out  # the per-stage time summary
    assert image.load_image(out / "A_prime.png").shape == (64, 80, 3)
    assert image.load_image(out / "B.png").shape == (64, 80, 3)
    assert image.load_image(out / "flow_ab.png").shape == (64, 80, 3)
    assert image.load_image(out / "sheet.jpg").shape[1] > 4 * 80  # A, B', A', B side by side
    nnf = np.load(out / "nnf_ba.npy")
    assert nnf.shape == (64, 80, 2) and nnf.dtype == np.int32
    rc = main(["analogy", str(tmp_path / "tiny.png"), str(tmp_path / "bp.png"), "--out-dir", str(tmp_path / "o2"), *common])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "too small" in err and len(err.splitlines()) == 1
    assert main(["analogy", str(tmp_path / "a.png"), str(tmp_path / "nope.png"), "--out-dir", str(out), *common]) == 2
