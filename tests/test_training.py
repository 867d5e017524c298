"""The shared training loop with the StyleBank task: resume, frozen leaves, schedule, guards."""

import dataclasses
import json
import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax import training
from styljax.io import data
from styljax.nets import vgg
from styljax.errors import StyljaxError
from styljax.nets import stylebank as sb
from styljax.tasks.stylebank import StyleBankLoss, StyleBankTask, StyleBankTrainConfig
import functools
from styljax.tasks.stylebank import TRAIN_NEW_BANKS

CFG = StyleBankTrainConfig(
    model=sb.StyleBankConfig(channels=(8, 16, 32)),
    loss=StyleBankLoss(
        content_layers=(("relu2_1", 1.0),), style_layers=(("relu1_1", 1.0), ("relu2_1", 1.0)), style_size=32,
        style_weight=50.0,
    ),
    learning_rate=1e-2,
)


@pytest.fixture(scope="module")
def vgg_w():
    return vgg.random_weights(16, jax.random.key(0))


def _images(n, seed=0, size=40):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        base = rng.uniform(size=(5, 5, 3)).astype(np.float32)
        out.append(np.kron(base, np.ones((size // 5, size // 5, 1), np.float32)))
    return out


@pytest.fixture(scope="module")
def batches():
    imgs = _images(6)
    src = data.ImageSource(lambda i: imgs[i], len(imgs), short_side=24)
    return data.crop_batches(src, crop=16, batch_size=2, seed=0)


def _styles(names):
    return dict(zip(names, _images(len(names), seed=7, size=20)))


def _loop(steps, **kw):
    return training.LoopConfig(steps=steps, log_every=1, checkpoint_every=100, progress=False, **kw)


def test_batches_are_deterministic_and_random_access(batches):
    a, b = batches[3], batches[3]
    np.testing.assert_array_equal(a["image"], b["image"])
    assert a["image"].shape == (2, 16, 16, 3) and a["image"].dtype == np.float32
    assert not np.array_equal(batches[0]["image"], batches[1]["image"])


def test_resume_equals_straight_run(vgg_w, batches, tmp_path):
    task = StyleBankTask(CFG, vgg_w, _styles(["a", "b"]))
    straight = training.train(task, batches, _loop(4), tmp_path / "straight")
    training.train(task, batches, _loop(2), tmp_path / "resumed")
    resumed = training.train(task, batches, _loop(4), tmp_path / "resumed")
    assert int(resumed.step) == 4
    for x, y in zip(jax.tree.leaves(straight.params), jax.tree.leaves(resumed.params)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    lines = [json.loads(l) for l in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines] == [1, 2, 3, 4]


def test_t_plus_one_schedule_and_identity_step_leaves_banks(vgg_w, batches, tmp_path):
    task = StyleBankTask(CFG, vgg_w, _styles(["a", "b"]))
    consts = task.constants()
    state = training.init_state(task, jax.random.key(0))
    step = jax.jit(functools.partial(training.train_step, task), static_argnames="phase")
    branches = []
    for i in range(6):
        before = state.params
        state, m = step(state, batches[i], consts, phase=task.phase(i))
        branches.append(int(m["branch"]))
        if int(m["branch"]) == 1:
            for x, y in zip(jax.tree.leaves(before["banks"]), jax.tree.leaves(state.params["banks"])):
                np.testing.assert_array_equal(x, y)
            assert float(m["identity"]) > 0
    assert branches == [0, 0, 1, 0, 0, 1]


def test_every_bank_trains_within_a_block(vgg_w):
    task = StyleBankTask(CFG, vgg_w, _styles(["a", "b", "c"]))
    ids = np.concatenate([np.asarray(task.style_ids(jnp.int32(s), 2)) for s in range(2)])
    assert sorted(set(ids.tolist())) == [0, 1, 2]


def test_loss_config_survives_a_json_round_trip():
    loss = StyleBankLoss(content_layers=(("relu3_3", 1.0),), style_layers=(("relu1_2", 0.25), ("relu4_3", 1e7)))
    back = StyleBankLoss.from_json(json.loads(json.dumps(dataclasses.asdict(loss))))
    assert back == loss and hash(back) == hash(loss)


def test_add_style_freezes_everything_else_bit_identical(vgg_w, batches, tmp_path):
    base = StyleBankTask(CFG, vgg_w, _styles(["a", "b"]))
    trained = training.train(base, batches, _loop(3), tmp_path / "base").params
    styles = {**_styles(["a", "b"]), "new": _images(1, seed=11, size=20)[0]}
    task = StyleBankTask(CFG, vgg_w, styles, init_params=trained, trainable=TRAIN_NEW_BANKS, new_styles=["new"])
    state0 = training.init_state(task, jax.random.key(1))
    # optax.partition: Adam state only for the new bank; the frozen auto-encoder and banks are
    # `set_to_zero` (no state) and the auto-encoder's Adam holds nothing
    adam = lambda part: state0.opt_state.inner_states[part].inner_state[0]  # noqa: E731
    leaves = lambda tree: [x for x in jax.tree.leaves(tree) if hasattr(x, "shape")]  # noqa: E731
    assert leaves(adam("ae").mu) == [] and set(adam("banks").mu["banks"]) == {"a", "b", "new"}
    assert [x.shape for x in leaves(adam("banks").mu)] == [x.shape for x in jax.tree.leaves(state0.params["banks"]["new"])]
    assert jax.tree.leaves(state0.opt_state.inner_states["frozen"]) == []
    consts = task.constants()
    ids = jnp.full((2,), task.style_names.index("new"))
    before = float(task.stylize_loss(state0.params, jnp.asarray(batches[0]["image"]), ids, consts)[0])
    final = training.train(task, batches, _loop(25), tmp_path / "add", state=state0)
    after = float(task.stylize_loss(final.params, jnp.asarray(batches[0]["image"]), ids, consts)[0])
    assert after < 0.7 * before, (before, after)
    for part in ("encoder", "decoder"):
        for x, y in zip(jax.tree.leaves(trained[part]), jax.tree.leaves(final.params[part])):
            assert np.array_equal(np.asarray(x), np.asarray(y))
    for name in ("a", "b"):
        for x, y in zip(jax.tree.leaves(trained["banks"][name]), jax.tree.leaves(final.params["banks"][name])):
            assert np.array_equal(np.asarray(x), np.asarray(y))


def test_stylize_loss_falls(vgg_w, batches, tmp_path):
    task = StyleBankTask(CFG, vgg_w, _styles(["a"]))
    consts = task.constants()
    state = training.init_state(task, jax.random.key(0))
    x = jnp.asarray(batches[0]["image"])
    ids = jnp.zeros((2,), jnp.int32)
    before = float(task.stylize_loss(state.params, x, ids, consts)[0])
    state = training.train(task, batches, _loop(30), tmp_path / "fall")
    after = float(task.stylize_loss(state.params, x, ids, consts)[0])
    assert after < 0.5 * before, (before, after)


def test_nan_guard_keeps_last_good_state(vgg_w, batches, tmp_path):
    task = StyleBankTask(CFG, vgg_w, _styles(["a"]))

    class Poisoned:
        def __getitem__(self, i):
            b = dict(batches[i])
            if i == 2:
                b["image"] = np.full_like(b["image"], np.nan)
            return b

    with pytest.raises(StyljaxError, match="non-finite loss at step 3"):
        training.train(task, Poisoned(), _loop(5), tmp_path / "nan")
    from styljax.io import checkpoint

    mngr = checkpoint.manager(tmp_path / "nan" / "ckpt")
    assert mngr.latest_step() == 2
    state, meta = checkpoint.restore(mngr, training.init_state(task, jax.random.key(0)))
    assert int(state.step) == 2 and bool(training.all_finite(state.params))
    assert meta["method"] == "stylebank"


def test_sigterm_saves_and_resumes(vgg_w, batches, tmp_path):
    task = StyleBankTask(CFG, vgg_w, _styles(["a"]))

    def kill_at_2(step, metrics):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(StyljaxError, match="interrupted at step 2"):
        training.train(task, batches, _loop(6), tmp_path / "sig", on_log=kill_at_2)
    state = training.train(task, batches, _loop(6), tmp_path / "sig")
    assert int(state.step) == 6


def test_sample_sheet(vgg_w, batches):
    task = StyleBankTask(CFG, vgg_w, _styles(["a", "b"]))
    params = training.init_state(task, jax.random.key(0)).params
    sheet = task.sample(params, batches[0], task.constants())
    assert sheet.ndim == 3 and sheet.shape[2] == 3 and sheet.shape[1] > 4 * 16


def test_autoencoder_stage_trains_e_d_only_and_its_loss_falls(vgg_w, batches, tmp_path):
    from styljax.tasks.stylebank import ReconstructionLoss

    cfg = dataclasses.replace(
        CFG, model=dataclasses.replace(CFG.model, restore_tone=True), autoencoder_only=True,
        identity=ReconstructionLoss(pixel_weight=10.0, content_layers=(("relu2_1", 0.1),)))
    task = StyleBankTask(cfg, vgg_w, _styles(["a", "b"]))
    assert task.phase(0) == task.phase(1) == task.phase(2) == 1
    state0 = training.init_state(task, jax.random.key(0))
    consts = task.constants()
    x = jnp.asarray(batches[0]["image"])
    before = float(task.identity_loss(state0.params, x, consts))
    final = training.train(task, batches, _loop(30), tmp_path / "ae", state=state0)
    after = float(task.identity_loss(final.params, x, consts))
    assert after < 0.7 * before, (before, after)
    for x0, x1 in zip(jax.tree.leaves(state0.params["banks"]), jax.tree.leaves(final.params["banks"])):
        assert np.array_equal(np.asarray(x0), np.asarray(x1))


def test_bank_norm_penalty_is_zero_for_a_bank_as_loud_as_its_input(vgg_w, batches):
    cfg = dataclasses.replace(CFG, bank_norm_weight=1.0)
    task = StyleBankTask(cfg, vgg_w, _styles(["a"]))
    params = training.init_state(task, jax.random.key(0)).params
    c = sb.StyleBankConfig(channels=(8, 16, 32)).features
    params["banks"]["a"] = {"conv1": {"kernel": jnp.zeros((3, 3, c, c)).at[1, 1].set(2.0 * jnp.eye(c)),
                                      "bias": jnp.zeros((c,))}}
    x, ids, consts = jnp.asarray(batches[0]["image"]), jnp.zeros((2,), jnp.int32), task.constants()
    parts = task.stylize_loss(params, x, ids, consts)[1]
    np.testing.assert_allclose(float(parts["bank_norm"]), np.log(2.0) ** 2, rtol=1e-4)
    params["banks"]["a"]["conv1"]["kernel"] = params["banks"]["a"]["conv1"]["kernel"] / 2.0
    assert float(task.stylize_loss(params, x, ids, consts)[1]["bank_norm"]) < 1e-8


def test_crops_at_random_zoom():
    rng = np.random.default_rng(0)
    img = np.random.default_rng(1).uniform(size=(60, 80, 3)).astype(np.float32)
    outs = [data.random_crop(img, 32, rng, scales=(0.5, 2.0)) for _ in range(5)]
    assert all(o.shape == (32, 32, 3) and o.dtype == np.float32 for o in outs)
    assert all(0.0 <= o.min() and o.max() <= 1.0 for o in outs)
    assert np.array_equal(data.random_crop(img, 32, np.random.default_rng(3), scales=(0.5, 2.0)),
                          data.random_crop(img, 32, np.random.default_rng(3), scales=(0.5, 2.0)))
