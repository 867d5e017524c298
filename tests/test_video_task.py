import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.data

from styljax import training
from styljax.io import data
from styljax.video import synthetic
from styljax.nets import stylebank as sb
from styljax.nets import coherent as vn
from styljax.tasks.coherent import VideoTask, VideoTrainConfig
import functools

SB = sb.StyleBankConfig(channels=(4, 8, 16), output="sigmoid")
CFG = VideoTrainConfig(net=vn.VideoNetConfig(flow_channels=(8, 8, 16, 16), mask_channels=(8, 8), correlation=2),
                       learning_rate=3e-3)
SIZE = 32


@pytest.fixture(scope="module")
def stylebank():
    return sb.init(jax.random.key(0), SB, ["s"])


@pytest.fixture(scope="module")
def batches():
    imgs = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    src = data.ImageSource(lambda i: data.as_rgb01(imgs[i]), len(imgs), 48)
    return synthetic.clip_batches(src, SIZE, 2, 2, seed=0)


def _task(p, cfg=CFG):
    return VideoTask(cfg, p, SB, p["banks"]["s"], "s")


def test_only_net1_trains_and_the_stylebank_stays_bit_identical(stylebank, batches, tmp_path):
    before = jax.tree.map(np.array, stylebank)
    task = _task(stylebank)
    state = training.train(task, batches, training.LoopConfig(steps=3, progress=False, checkpoint_every=3), tmp_path)
    assert set(state.params) == {"flow", "mask"}
    # one Adam per sub-network (optax.partition); their moments cover exactly the trainable leaves,
    # so there is no optimizer state for the frozen StyleBank
    for part in ("flow", "mask"):
        adam = state.opt_state.inner_states[part].inner_state[0]
        for moments in (adam.mu, adam.nu):
            assert [x.shape for x in jax.tree.leaves(moments)] == [x.shape for x in jax.tree.leaves(state.params[part])]
    consts = task.constants()
    for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(stylebank)):
        np.testing.assert_array_equal(a, np.asarray(b))
    for a, b in zip(jax.tree.leaves({"encoder": before["encoder"], "decoder": before["decoder"]}),
                    jax.tree.leaves(consts["sb"])):
        np.testing.assert_array_equal(a, np.asarray(b))
    fresh = training.init_state(task, jax.random.key(0)).params
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(fresh), jax.tree.leaves(state.params)))


def test_losses_fall_when_overfitting_one_batch(stylebank, batches):
    task = _task(stylebank)
    batch = batches[0]
    consts = task.constants()
    state = training.init_state(task, jax.random.key(1))
    step = jax.jit(functools.partial(training.train_step, task), static_argnames="phase")
    first = None
    for _ in range(40):
        state, m = step(state, batch, consts, phase=1)
        first = first or {k: float(v) for k, v in m.items()}
    last = {k: float(v) for k, v in m.items()}
    # 40 Adam steps take the total to ~0.6x; the margin absorbs float-rounding drift of the convs
    assert last["loss"] < 0.7 * first["loss"], (first, last)
    assert last["flow"] < 0.9 * first["flow"] and last["coherence"] < 0.7 * first["coherence"], (first, last)


def test_loss_terms_on_a_static_clip(stylebank):
    """No motion: warp(S_{t-1}) = S_t, so a Net₁ that keeps the warped feature (M = 1, zero flow)
    has zero coherence, occlusion and flow loss; a flow of 1 px costs exactly 1 in the flow term."""
    img = data.as_rgb01(skimage.data.astronaut())[:SIZE, :SIZE]
    clip = {"frames": np.broadcast_to(img, (1, 3, SIZE, SIZE, 3)).copy(),
            "flow": np.zeros((1, 3, SIZE, SIZE, 2), np.float32),
            "traceable": np.ones((1, 3, SIZE, SIZE), np.float32)}
    task = _task(stylebank, dataclasses.replace(CFG, net=dataclasses.replace(CFG.net, correlation=0)))
    net = jax.tree.map(jnp.zeros_like, training.init_state(task, jax.random.key(0)).params)  # zero flow, M = σ(bias)
    net["mask"]["conv3"]["bias"] = jnp.full((1,), 40.0)
    loss, terms = task.clip_loss(net, clip, task.constants())
    assert float(terms["coherence"]) < 1e-10 and float(terms["occlusion"]) == 0.0 and float(terms["flow"]) == 0.0
    net["flow"]["predict2"]["bias"] = jnp.asarray([1.0, 0.0])
    _, terms = task.clip_loss(net, clip, task.constants())
    np.testing.assert_allclose(float(terms["flow"]), 1.0, rtol=1e-5)
    np.testing.assert_allclose(float(terms["epe"]), 1.0, rtol=1e-5)


def test_sample_sheet(stylebank, batches):
    task = _task(stylebank)
    sheet = task.sample(training.init_state(task, jax.random.key(0)).params, batches[0], task.constants())
    assert sheet.ndim == 3 and sheet.shape[1] > 7 * SIZE and np.isfinite(sheet).all()


def test_flow_warmup_trains_the_flow_net_only(stylebank, batches):
    task = _task(stylebank, dataclasses.replace(CFG, flow_warmup=2))
    assert [task.phase(s) for s in range(4)] == [0, 0, 1, 1]
    state = training.init_state(task, jax.random.key(0))
    init = jax.tree.map(np.array, state.params)
    step = jax.jit(functools.partial(training.train_step, task), static_argnames="phase")
    for s in range(2):
        state, m = step(state, batches[s], task.constants(), phase=task.phase(s))
        assert set(m) == {"loss", "flow", "epe"}
    for a, b in zip(jax.tree.leaves(init["mask"]), jax.tree.leaves(state.params["mask"])):
        np.testing.assert_array_equal(a, np.asarray(b))
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(init["flow"]), jax.tree.leaves(state.params["flow"])))
    state, m = step(state, batches[2], task.constants(), phase=task.phase(2))
    assert "coherence" in m
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(init["mask"]), jax.tree.leaves(state.params["mask"])))
