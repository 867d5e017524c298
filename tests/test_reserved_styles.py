"""A model's reserved styles (CIN/Johnson's `identity`, the strength-0 target) stay internal: they
are never listed (`styles list`, `/v1/styles`, the page's catalogue), never rendered by
`--style all`, never offered in the unknown-style hint, and refused as a style to pick; strength 0
still interpolates toward them (issue #34)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from styljax.io import image
from styljax.errors import StyljaxError
from styljax.infer.cli import main
from styljax.nets import transform as tr
from styljax.stores import transform_store
from styljax.renderers.transform_renderer import TransformRenderer
from styljax.render import StyleSpec


@pytest.fixture(scope="module")
def cin_with_identity(tmp_path_factory):
    """A tiny CIN model with styles red, green and the reserved identity (distinct γ/β each)."""
    cfg = tr.TransformConfig.cin(channels=(4, 8, 8), residual_blocks=1)
    params = tr.init(jax.random.key(3), cfg, ["red", "green", tr.IDENTITY_STYLE])
    for k, n in enumerate(("red", "green")):
        params["styles"][n] = jax.tree.map(
            lambda a, k=k: a + 0.3 * jax.random.normal(jax.random.key(20 + k), a.shape), params["styles"][n])
    path = tmp_path_factory.mktemp("reserved") / "cin"
    transform_store.save_model(path, params, cfg, {"method": "cin"})
    return path


def test_renderer_hides_identity_but_strength_uses_it(cin_with_identity):
    m = TransformRenderer(cin_with_identity)
    assert m.styles == ["green", "red"]
    assert m.reserved_styles == (tr.IDENTITY_STYLE,)
    assert tr.IDENTITY_STYLE in m.params["styles"]  # loaded: the strength-0 target
    assert m.strength_mode == "gamma-beta"
    x = np.random.default_rng(0).uniform(size=(1, 24, 32, 3)).astype(np.float32)
    zero = m.render(x, StyleSpec(("red",), strength=0.0))["red"]
    ident = m.render(x, StyleSpec((tr.IDENTITY_STYLE,)))[tr.IDENTITY_STYLE]  # internal use still works
    np.testing.assert_allclose(zero, ident, atol=1e-5)
    assert np.abs(np.asarray(zero) - np.asarray(m.render(x, StyleSpec(("red",)))["red"])).max() > 1e-3


def test_all_and_the_hint_leave_identity_out(cin_with_identity):
    m = TransformRenderer(cin_with_identity)
    assert StyleSpec.parse("all", m.styles).names == ("green", "red")
    with pytest.raises(StyljaxError) as e:
        StyleSpec.parse("identity", m.styles)
    assert str(e.value) == "--style: unknown styles: identity; this model has: green, red"


def test_cli_all_and_styles_list(cin_with_identity, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    image.save_image(photo, np.random.default_rng(1).uniform(size=(24, 32, 3)).astype(np.float32))
    out = tmp_path / "out"
    assert main(["stylize", "--method", "cin", "--model", str(cin_with_identity), "--style", "all", str(photo),
                 "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["photo_green.png", "photo_red.png"]
    capsys.readouterr()
    assert main(["styles", "list", "--model", str(cin_with_identity)]) == 0
    listed = [l.split()[0] for l in capsys.readouterr().out.splitlines()[1:]]
    assert listed == ["green", "red"]
    assert main(["stylize", "--method", "cin", "--model", str(cin_with_identity), "--style", "identity", str(photo),
                 "--out", str(tmp_path / "x.png"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown styles: identity" in err and "has: green, red" in err


def test_service_lists_no_reserved_style(cin_with_identity):
    from fastapi.testclient import TestClient

    from styljax.infer import serve_app
    from styljax.infer.serving import ServeConfig

    models = serve_app.load_models({"cin": cin_with_identity})
    with TestClient(serve_app.create_app(models, ServeConfig(max_batch=1, max_wait_ms=1))) as c:
        listed = [s["name"] for s in c.get("/v1/styles").json()["models"][0]["styles"]]
        assert listed == ["green", "red"]
        assert c.get("/healthz").json()["models"]["cin"]["styles"] == 2
        assert c.get("/v1/models/cin/styles/identity/thumbnail.jpg").status_code == 404


def test_shipped_models_list_no_identity():
    from styljax import methods

    for name in ("cin", "johnson"):
        m = methods.get(name).open_renderer()
        assert tr.IDENTITY_STYLE not in m.styles and m.styles
        if tr.IDENTITY_STYLE in m.params["styles"]:
            assert m.strength_mode == "gamma-beta"


def test_styles_verbs_refuse_the_reserved_name(cin_with_identity, tmp_path, capsys):
    import shutil

    model = tmp_path / "cin"
    shutil.copytree(cin_with_identity, model)
    assert main(["styles", "rename", "--model", str(model), "red", "identity"]) == 2
    assert "'identity' is reserved" in capsys.readouterr().err
    assert main(["styles", "rename", "--model", str(model), "identity", "plain"]) == 2
    assert main(["styles", "export", "--model", str(model), "red", str(tmp_path / "red.npz")]) == 0
    assert main(["styles", "import", "--model", str(model), str(tmp_path / "red.npz"), "--name", "identity"]) == 2
    assert "'identity' is reserved" in capsys.readouterr().err
    assert sorted(transform_store.list_styles(model)) == ["green", "identity", "red"]
