"""CIN training steps: the loss falls, every style trains, a new style trains only its γ/β.

(Johnson on the shared loop, with samples and provenance, is covered by tests/test_transform_cli.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax.io import data
from styljax.nets import vgg
from styljax.nets import transform as tr
from styljax.losses.perceptual import PerceptualLoss
from styljax.tasks.transform import TransformTask, TransformTrainConfig
from styljax import training
import functools
from styljax.tasks.transform import TRAIN_NEW_STYLES

LOSS = PerceptualLoss(content_layers=(("relu2_1", 1.0),), style_layers=(("relu1_1", 1.0), ("relu2_1", 1.0)),
                      style_size=24, style_weight=50.0)
CIN = TransformTrainConfig(model=tr.TransformConfig.cin(channels=(4, 8, 8), residual_blocks=1), loss=LOSS,
                           learning_rate=1e-2)


@pytest.fixture(scope="module")
def vgg_w():
    return vgg.random_weights(16, jax.random.key(0))


def _images(n, seed, size=24):
    rng = np.random.default_rng(seed)
    return [np.kron(rng.uniform(size=(4, 4, 3)), np.ones((size // 4, size // 4, 1))).astype(np.float32) for _ in range(n)]


@pytest.fixture(scope="module")
def batches():
    imgs = _images(4, 0)
    return data.crop_batches(data.ImageSource(lambda i: imgs[i], 4, short_side=20), crop=16, batch_size=2, seed=0)


def _styles(names):
    return dict(zip(names, _images(len(names), 7)))


def _run(task, batches, steps):
    state, consts = training.init_state(task, jax.random.key(0)), task.constants()
    step = jax.jit(functools.partial(training.train_step, task))
    losses = []
    for s in range(steps):
        state, m = step(state, batches[s % 2], consts)
        losses.append(float(m["loss"]))
    return state, losses


def test_cin_loss_falls_and_every_style_trains(vgg_w, batches):
    task = TransformTask(CIN, vgg_w, _styles(["a", "b"]))
    init = training.init_state(task, jax.random.key(0))
    state, losses = _run(task, batches, 12)
    assert np.mean(losses[-2:]) < 0.8 * np.mean(losses[:2])
    for name in ("a", "b"):
        assert not np.allclose(state.params["styles"][name]["conv1"]["scale"], init.params["styles"][name]["conv1"]["scale"])
    assert not np.allclose(state.params["net"]["conv1"]["kernel"], init.params["net"]["conv1"]["kernel"])
    ids = np.concatenate([np.asarray(task.style_ids(jnp.int32(s), 2)) for s in range(3)])
    assert sorted(set(ids.tolist())) == [0, 1]


def test_new_style_trains_only_its_gamma_beta(vgg_w, batches):
    base, _ = _run(TransformTask(CIN, vgg_w, _styles(["a", "b"])), batches, 2)
    task = TransformTask(CIN, vgg_w, _styles(["new"]), init_params=base.params, trainable=TRAIN_NEW_STYLES, new_styles=["new"])
    state0 = training.init_state(task, jax.random.key(1))
    # starts from the mean of the known styles; the optimizer only holds the new γ/β
    np.testing.assert_allclose(state0.params["styles"]["new"]["up1"]["bias"],
                               (base.params["styles"]["a"]["up1"]["bias"] + base.params["styles"]["b"]["up1"]["bias"]) / 2,
                               rtol=1e-6)
    n_style = sum(x.size for x in jax.tree.leaves(state0.params["styles"]["new"]))
    mu = state0.opt_state.inner_states["train"].inner_state[0].mu  # optax.partition: frozen leaves have no state
    assert sum(x.size for x in jax.tree.leaves(mu)) == n_style
    assert jax.tree.leaves(state0.opt_state.inner_states["frozen"]) == []
    state, losses = _run(task, batches, 6)
    assert losses[-1] < losses[0]
    for part in (["net"], ["styles", "a"], ["styles", "b"]):
        before, after = base.params, state.params
        for k in part:
            before, after = before[k], after[k]
        for x, y in zip(jax.tree.leaves(before), jax.tree.leaves(after)):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))  # bit-identical
    assert not np.array_equal(state.params["styles"]["new"]["conv2"]["scale"], state0.params["styles"]["new"]["conv2"]["scale"])



def test_identity_style_trains_on_content_alone(vgg_w, batches):
    import dataclasses

    cfg = dataclasses.replace(CIN, identity_style=True)
    task = TransformTask(cfg, vgg_w, _styles(["a"]))
    assert task.style_names == ("a", tr.IDENTITY_STYLE)
    state, consts = training.init_state(task, jax.random.key(0)), task.constants()
    x = jnp.asarray(batches[0]["image"], jnp.float32)
    ident = jnp.full((x.shape[0],), 1, jnp.int32)
    total, parts = task.perceptual_loss(state.params, x, ident, consts)
    assert float(parts["style"]) == 0.0 and float(total) == pytest.approx(float(parts["content"] + parts["tv"]))
    _, painted = task.perceptual_loss(state.params, x, jnp.zeros_like(ident), consts)
    assert float(painted["style"]) > 0.0
    # trained side by side, the identity style gets closer to the photo than the painted one
    state, _ = _run(task, batches, 12)
    _, after_id = task.perceptual_loss(state.params, x, ident, consts)
    _, after_a = task.perceptual_loss(state.params, x, jnp.zeros_like(ident), consts)
    assert float(after_id["content"]) < float(after_a["content"])
    with pytest.raises(ValueError, match="reserved"):
        TransformTask(cfg, vgg_w, _styles(["a", tr.IDENTITY_STYLE]))


def test_identity_pixel_term_and_residual_anchor(vgg_w, batches):
    """The pixel term counts the identity style's images alone, after the tone restore strength 0
    applies; the anchor is the mean squared γ/β gap of the painted styles' residual-first norms to
    the identity's, and training closes it while the identity's pixel error falls."""
    import dataclasses

    model = dataclasses.replace(CIN.model, restore_tone=True)
    cfg = dataclasses.replace(CIN, model=model, identity_style=True, identity_pixel_weight=10.0, anchor_weight=500.0,
                              anchor_norms=("res1a",))
    task = TransformTask(cfg, vgg_w, _styles(["a", "b"]))
    state, consts = training.init_state(task, jax.random.key(0)), task.constants()
    styles = jax.tree.map(jnp.asarray, state.params["styles"])
    styles["a"]["res1a"]["scale"] = styles["a"]["res1a"]["scale"] + 0.5  # a gap of 0.5 in one of a's leaves
    params = {**state.params, "styles": styles}
    x = jnp.asarray(batches[0]["image"], jnp.float32)
    _, parts = task.perceptual_loss(params, x, jnp.asarray([2, 0], jnp.int32), consts)
    out = tr.stylize_with(params, x[:1], params["styles"][tr.IDENTITY_STYLE], model)
    from styljax.nets.strength import restore_tone
    want = 10.0 * float(jnp.mean(jnp.square(restore_tone(out, x[:1]) - x[:1]))) / 2  # one of two images
    assert float(parts["pixel"]) == pytest.approx(want, rel=1e-5)
    assert float(parts["anchor"]) == pytest.approx(500.0 * 0.25, rel=1e-5)
    _, painted = task.perceptual_loss(params, x, jnp.asarray([0, 1], jnp.int32), consts)
    assert float(painted["pixel"]) == 0.0
    start_px = float(task.perceptual_loss(params, x, jnp.asarray([2, 2], jnp.int32), consts)[1]["pixel"])
    trained = {}
    for weight in (0.0, cfg.anchor_weight):  # the same start and batches, with and without the anchor
        t = TransformTask(dataclasses.replace(cfg, anchor_weight=weight), vgg_w, _styles(["a", "b"]))
        st = training.init_state(t, jax.random.key(0)).replace(params=params)
        step = jax.jit(functools.partial(training.train_step, t))
        for s in range(12):
            st, _ = step(st, batches[s % 2], consts)
        trained[weight] = st.params
    gap = {w: float(task._anchor_distance(p["styles"])) for w, p in trained.items()}
    assert gap[cfg.anchor_weight] < 0.9 * gap[0.0], gap
    _, after = task.perceptual_loss(trained[cfg.anchor_weight], x, jnp.asarray([2, 2], jnp.int32), consts)
    assert float(after["pixel"]) < start_px
    with pytest.raises(ValueError, match="identity_style"):
        TransformTask(dataclasses.replace(cfg, identity_style=False), vgg_w, _styles(["a"]))
