"""The one train step (`styljax.training.train_step`) for every method, from the one config list:
each config's tiny run lowers its loss on a fixed batch, frozen leaves stay bit-identical, and a
phase that trains only some groups leaves the others (params and optimizer state) untouched."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styljax import methods, training
from styljax.nets import stylebank as sb
from styljax.nets import vgg
from styljax.tasks.stylebank import TRAIN_NEW_BANKS
from styljax.tasks.transform import TRAIN_NEW_STYLES
from styljax.train import configs
from styljax.training import FROZEN, Group, Trainable


@pytest.fixture(scope="module")
def vgg_w():
    return vgg.random_weights(16, jax.random.key(0))


def _image(seed, size):
    rng = np.random.default_rng(seed)
    return np.kron(rng.uniform(size=(4, 4, 3)), np.ones((size // 4, size // 4, 1))).astype(np.float32)


def _perceptual_task(name, vgg_w, trainable=None, new=()):
    cfg = configs.get_config(name)
    method = methods.get(cfg.method)
    styles = {"red": _image(1, 24)} if method.single_style else {"red": _image(1, 24), "blue": _image(2, 24)}
    kw = {} if trainable is None else {"trainable": trainable, "new_styles": new}
    task = method.task_class()(cfg.train, vgg_w, styles, method=method.name, **kw)
    return task, {"image": np.stack([_image(3, 32), _image(4, 32)])}


def _video_task():
    cfg = configs.get_config("video-tiny")
    sb_cfg = sb.StyleBankConfig(channels=(4, 8, 16), output="sigmoid")
    sb_params = sb.init(jax.random.key(0), sb_cfg, ["red"])
    task = methods.get("video").task_class()(cfg.train, sb_params, sb_cfg, sb_params["banks"]["red"], "red")
    rng = np.random.default_rng(0)
    frames = rng.uniform(size=(2, 2, 32, 32, 3)).astype(np.float32)
    batch = {"frames": frames, "flow": np.zeros((2, 2, 32, 32, 2), np.float32),
             "traceable": np.ones((2, 2, 32, 32), np.float32)}
    return task, batch


def _run(task, batch, steps, phase=None):
    step = jax.jit(functools.partial(training.train_step, task), static_argnames="phase")
    state, consts = training.init_state(task, jax.random.key(0)), task.constants()
    start = state
    losses = []
    for i in range(steps):
        state, m = step(state, batch, consts, phase=task.phase(i) if phase is None else phase)
        losses.append(float(m["loss"]))
    return start, state, losses


def _frozen_leaves_identical(task, start, state):
    labels = jax.tree.leaves(task.trainable.labels(start.params, task.new_styles))
    pairs = list(zip(labels, jax.tree.leaves(start.params), jax.tree.leaves(state.params)))
    frozen = [(a, b) for l, a, b in pairs if l == FROZEN]
    trained = [(a, b) for l, a, b in pairs if l != FROZEN]
    assert all(np.array_equal(a, b) for a, b in frozen)
    assert any(not np.array_equal(a, b) for a, b in trained)
    return len(frozen)


@pytest.mark.parametrize("name", ["stylebank-tiny", "cin-tiny", "johnson-tiny", "texture-net-tiny"])
def test_each_perceptual_method_trains_through_the_one_step(vgg_w, name):
    task, batch = _perceptual_task(name, vgg_w)
    _, _, losses = _run(task, batch, 12, phase=0)
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.parametrize("name, trainable", [("stylebank-add-style", TRAIN_NEW_BANKS), ("cin-add-style", TRAIN_NEW_STYLES),
                                             ("texture-net-tiny", TRAIN_NEW_STYLES)])
def test_a_new_style_trains_alone(vgg_w, name, trainable):
    cfg = configs.get_config(name)
    task0, batch = _perceptual_task(name if not cfg.add_style else f"{cfg.method}-tiny", vgg_w)
    base = training.init_state(task0, jax.random.key(5)).params  # a "trained" model to add a style to
    method = methods.get(cfg.method)
    tcfg = dataclasses.replace(cfg.train, model=task0.cfg.model, loss=task0.cfg.loss)
    task = method.task_class()(tcfg, vgg_w, {"new": _image(9, 24)}, method=method.name, trainable=trainable,
                               new_styles=("new",), init_params=base)
    start, state, losses = _run(task, batch, 10, phase=0)
    assert losses[-1] < losses[0]
    assert _frozen_leaves_identical(task, start, state) > 4
    key = "banks" if cfg.method == "stylebank" else "styles"
    old = set(base[key])
    for n in old:  # the model's own styles, and its body, are as they were
        assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(base[key][n]), jax.tree.leaves(state.params[key][n])))


def test_video_trains_through_the_one_step():
    task, batch = _video_task()
    _, _, losses = _run(task, batch, 8, phase=1)
    assert losses[-1] < losses[0]


def test_a_phase_that_trains_one_group_leaves_the_others_untouched():
    """The video nets' flow warm-up (phase 0) trains the flow net alone: the mask net's params and
    its Adam state do not move."""
    task, batch = _video_task()
    start, state, _ = _run(task, batch, 3, phase=0)
    for a, b in zip(jax.tree.leaves(start.params["mask"]), jax.tree.leaves(state.params["mask"])):
        assert np.array_equal(a, b)
    inner = lambda s: s.opt_state.inner_states["mask"]  # noqa: E731
    for a, b in zip(jax.tree.leaves(inner(start)), jax.tree.leaves(inner(state))):
        assert np.array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(start.params["flow"]),
                                                         jax.tree.leaves(state.params["flow"])))


def test_trainable_labels_by_path():
    t = Trainable((Group("ae", ("encoder/*", "decoder/*")), Group("banks", ("banks/{new}/*",))))
    params = {"encoder": {"c": jnp.zeros(1)}, "decoder": {"c": jnp.zeros(1)},
              "banks": {"old": {"kernel": jnp.zeros(1)}, "new": {"kernel": jnp.zeros(1)}}}
    labels = t.labels(params, new=("new",))
    assert labels == {"encoder": {"c": "ae"}, "decoder": {"c": "ae"}, "banks": {"old": {"kernel": FROZEN}, "new": {"kernel": "banks"}}}
    assert t.labels(params)["banks"]["new"]["kernel"] == FROZEN  # no style being added: none matches
    with pytest.raises(ValueError):
        Trainable((Group("a", ("*",)), Group("a", ("x",))))
