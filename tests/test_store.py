
import jax
import numpy as np
import pytest

from styljax.io import store
from styljax.errors import StyljaxError
from styljax.nets import stylebank as sb
from styljax.stores import stylebank_store as ss

CFG = sb.StyleBankConfig(channels=(4, 8, 16))


def test_tree_round_trip_and_checksum(tmp_path):
    tree = {"a": {"k": np.arange(6, dtype=np.float32).reshape(2, 3)}, "b": np.int32(7)}
    p = store.save_tree(tmp_path / "t.npz", tree, {"hello": "world"})
    got, meta = store.load_tree(p)
    np.testing.assert_array_equal(got["a"]["k"], tree["a"]["k"])
    assert int(got["b"]) == 7 and meta["hello"] == "world" and len(meta["sha256"]) == 64
    # alter one value: checksum mismatch
    with np.load(p) as z:
        flat = {k: z[k] for k in z.files}
    flat["a/k"][0, 0] = 99
    np.savez(p, **flat)
    with pytest.raises(StyljaxError, match="checksum mismatch"):
        store.load_tree(p)


def test_load_tree_bad_files(tmp_path):
    (tmp_path / "x.npz").write_text("nope")
    with pytest.raises(StyljaxError, match="x.npz"):
        store.load_tree(tmp_path / "x.npz")
    with pytest.raises(StyljaxError, match="no such file"):
        store.load_tree(tmp_path / "missing.npz")


@pytest.fixture
def model(tmp_path):
    params = sb.init(jax.random.key(0), CFG, ["starry", "wave"])
    ss.save_model(tmp_path / "m", params, CFG, {"provenance": {"steps": 1}})
    return tmp_path / "m", params


def test_model_round_trip(model):
    path, params = model
    got, cfg, manifest = ss.load_model(path)
    assert cfg == CFG and manifest["provenance"] == {"steps": 1}
    assert ss.list_styles(path) == ["starry", "wave"]
    for x, y in zip(jax.tree.leaves(params), jax.tree.leaves(got)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    x = jax.random.uniform(jax.random.key(1), (1, 16, 16, 3))
    np.testing.assert_allclose(sb.stylize(got, x, "wave", cfg), sb.stylize(params, x, "wave", CFG), rtol=1e-6)


def test_export_import_rename_remove(model, tmp_path):
    path, params = model
    out = ss.export_bank(path, "wave", tmp_path / "wave_bank.npz")
    assert out.stat().st_size < 2 * sb.nbytes(params["banks"]["wave"]) + 4096
    # into a second model that shares the auto-encoder
    other = dict(params, banks={"starry": params["banks"]["starry"]})
    ss.save_model(tmp_path / "m2", other, CFG)
    assert ss.import_bank(tmp_path / "m2", out, name="wave2") == "wave2"
    got, _, _ = ss.load_model(tmp_path / "m2")
    np.testing.assert_array_equal(got["banks"]["wave2"]["conv1"]["kernel"], params["banks"]["wave"]["conv1"]["kernel"])
    # a model with a different auto-encoder refuses it
    stranger = sb.init(jax.random.key(9), CFG, ["x"])
    ss.save_model(tmp_path / "m3", stranger, CFG)
    with pytest.raises(StyljaxError, match="different auto-encoder"):
        ss.import_bank(tmp_path / "m3", out)
    ss.rename_style(path, "wave", "great_wave")
    assert ss.list_styles(path) == ["great_wave", "starry"]
    ss.remove_style(path, "starry")
    assert ss.list_styles(path) == ["great_wave"]
    with pytest.raises(StyljaxError, match="no style"):
        ss.remove_style(path, "starry")


@pytest.mark.parametrize("bad", ["../evil", "a/b", "", ".hidden", "x" * 65, "name.npz"])
def test_style_names_validated(bad):
    with pytest.raises(StyljaxError, match="bad style name"):
        ss.check_style_name(bad)


def test_not_a_model(tmp_path):
    with pytest.raises(StyljaxError, match="not a StyleBank model"):
        ss.load_model(tmp_path)


def test_transform_models_share_the_layout(model, tmp_path):
    from styljax.nets import transform as tr
    from styljax.stores import transform_store as ts
    from styljax.methods import store_for_model as open_store

    cfg = tr.TransformConfig.cin(channels=(4, 8, 8), residual_blocks=1)
    params = tr.init(jax.random.key(0), cfg, ["a", "b"])
    params["styles"]["a"]["conv1"]["bias"] = params["styles"]["a"]["conv1"]["bias"] + 1.0
    ts.save_model(tmp_path / "cin", params, cfg, {"method": "cin"})
    assert open_store(tmp_path / "cin") is ts.STORE and open_store(model[0]) is ss.STORE
    got, got_cfg, manifest = ts.load_model(tmp_path / "cin")
    assert got_cfg == cfg and manifest["method"] == "cin" and sorted(got["styles"]) == ["a", "b"]
    exported = ts.STORE.export_style(tmp_path / "cin", "a", tmp_path / "a.npz")
    assert exported.stat().st_size < tr.nbytes(params["styles"]["a"]) + 8192  # γ/β + npz headers
    ts.save_model(tmp_path / "cin2", {**params, "styles": {"b": params["styles"]["b"]}}, cfg, {"method": "cin"})
    assert ts.STORE.import_style(tmp_path / "cin2", exported, "a2") == "a2"
    np.testing.assert_array_equal(ts.load_model(tmp_path / "cin2")[0]["styles"]["a2"]["conv1"]["bias"],
                                  params["styles"]["a"]["conv1"]["bias"])
    with pytest.raises(StyljaxError, match="not an exported style"):
        ss.import_bank(model[0], exported)
    with pytest.raises(StyljaxError, match="not a StyleBank model"):
        ss.load_model(tmp_path / "cin")
