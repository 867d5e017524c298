"""Style strength and colour preservation for the feed-forward methods (issue #19): the library's
math (StyleBank feature blend, CIN/Johnson γ/β toward an identity style or pixel fading), the
renderers the CLI and service share, and the `styljax stylize --strength/--preserve-colors` flags."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage.color import rgb2yiq

from styljax.infer.cli import main
from styljax.io import image
from styljax.imaging import color
from styljax.nets import stylebank as sb
from styljax.nets import strength as st
from styljax.nets import transform as tr
from styljax.renderers.stylebank_renderer import StyleBankRenderer
from styljax.renderers.transform_renderer import TransformRenderer
from styljax.render import StyleSpec, keep_colors

SB = sb.StyleBankConfig(channels=(4, 8, 16), output="sigmoid")
CIN = tr.TransformConfig.cin(channels=(4, 8, 8), residual_blocks=1)
JOHNSON = tr.TransformConfig.johnson(channels=(4, 8, 8), residual_blocks=1)


def photos(b: int = 2, h: int = 20, w: int = 24, seed: int = 1) -> jax.Array:
    return jax.random.uniform(jax.random.key(seed), (b, h, w, 3))


def far(a, b) -> bool:
    return float(jnp.abs(a - b).mean()) > 1e-3


@pytest.fixture(scope="module")
def bank_params():
    return sb.init(jax.random.key(0), SB, ["a", "b"])


def transform_params(cfg, names, seed=0):
    p = tr.init(jax.random.key(seed), cfg, names)
    for k, n in enumerate(names):  # distinct γ/β per style
        p["styles"][n] = jax.tree.map(lambda a, k=k: a + 0.3 * jax.random.normal(jax.random.key(10 + k), a.shape),
                                      p["styles"][n])
    return p


# ------------------------------------------------------------------------------------- StyleBank


def test_stylebank_strength_ends_middle_and_fusion(bank_params):
    p, x = bank_params, photos()
    today = sb.stylize(p, x, "a", SB)
    np.testing.assert_array_equal(sb.stylize(p, x, "a", SB, strength=1.0), today)  # bit for bit
    np.testing.assert_allclose(sb.stylize(p, x, "a", SB, strength=0.0), sb.reconstruct(p, x, SB), atol=1e-5)
    # 0.5: decoding the averaged features
    f = sb.encode(p, x, SB)
    avg = 0.5 * sb.apply_bank(p["banks"]["a"], f, SB) + 0.5 * f
    half = sb.stylize(p, x, "a", SB, strength=0.5)
    np.testing.assert_allclose(half, sb.decode(p, avg, SB, x.shape[1:3]), atol=1e-5)
    assert far(half, today) and far(half, sb.reconstruct(p, x, SB))
    # linear fusion: the fused bank applied once, then the same blend
    fused = sb.fuse_linear(p["banks"], {"a": 0.7, "b": 0.3})
    np.testing.assert_array_equal(sb.stylize_bank(p, x, fused, SB, strength=1.0), sb.stylize_bank(p, x, fused, SB))
    np.testing.assert_allclose(sb.stylize_bank(p, x, fused, SB, strength=0.0), sb.reconstruct(p, x, SB), atol=1e-5)
    # every style at once, per-image strengths
    s = jnp.asarray([0.3, 0.8])
    every = sb.render_all(p, x, SB, ["a", "b"], strength=s)
    for k, name in enumerate(["a", "b"]):
        np.testing.assert_allclose(every[k], sb.stylize(p, x, name, SB, strength=s), atol=1e-5)
    np.testing.assert_array_equal(sb.render_all(p, x, SB, strength=1.0), sb.render_all(p, x, SB))


def test_stylebank_per_image_strengths_with_regions(bank_params):
    """The service's batched path: each image its own banks, regions and strength, in one call."""
    p, x = bank_params, photos(3)
    stacked = sb.stack_banks(p["banks"], ["a", "b"])  # (2, ...)
    banks = jax.tree.map(lambda a: jnp.stack([a, a[::-1], a]), stacked)  # (B=3, R=2, ...)
    masks = jnp.zeros((3, 2) + x.shape[1:3]).at[:, 0, :, :12].set(1.0).at[:, 1, :, 12:].set(1.0)
    s = jnp.asarray([0.0, 0.5, 1.0])
    got = sb.stylize_per_image(p, x, banks, masks, SB, clip=True, strength=s)
    for i in range(3):
        one = sb.stylize_per_image(p, x[i : i + 1], jax.tree.map(lambda a: a[i : i + 1], banks), masks[i : i + 1], SB,
                                   clip=True, strength=s[i : i + 1])
        np.testing.assert_allclose(got[i], one[0], atol=1e-5)
    today = sb.stylize_per_image(p, x, banks, masks, SB, clip=True)
    np.testing.assert_array_equal(got[2], today[2])  # s = 1 in a mixed batch: bit for bit
    np.testing.assert_allclose(got[0], sb.reconstruct(p, x[:1], SB, clip=True)[0], atol=1e-5)
    assert far(got[1], today[1]) and far(got[1], got[0][None])


def test_stylebank_renderer_regions_and_strength(tiny_models):
    m = StyleBankRenderer(tiny_models["stylebank"])
    assert m.strength_mode == "features"
    x = photos(1, 24, 32)
    masks = np.zeros((1, 2, 24, 32), np.float32)
    masks[:, 0, :, :16], masks[:, 1, :, 16:] = 1, 1
    today = m.render_regions(x, ("red", "blue"), masks)
    np.testing.assert_array_equal(m.render_regions(x, ("red", "blue"), masks, strength=1.0), today)
    np.testing.assert_allclose(m.render_regions(x, ("red", "blue"), masks, strength=0.0),
                               sb.reconstruct(m.params, x, m.cfg, clip=True), atol=1e-5)
    kmeans = m.render_regions(x, ("red", "blue"), k=2, strength=0.0)  # K-means regions, same blend
    np.testing.assert_allclose(kmeans, sb.reconstruct(m.params, x, m.cfg, clip=True), atol=1e-5)


# ----------------------------------------------------------------------------------- CIN, Johnson


def test_transform_without_identity_fades_pixels():
    p, x = transform_params(CIN, ["a", "b"]), photos()
    assert tr.strength_mode(p["styles"]) == "pixel" and tr.neutral_style(p) is None
    today = tr.stylize(p, x, "a", CIN, clip=True)
    np.testing.assert_array_equal(tr.stylize(p, x, "a", CIN, clip=True, strength=1.0), today)
    np.testing.assert_array_equal(tr.stylize(p, x, "a", CIN, clip=True, strength=0.0), x)  # the photo itself
    np.testing.assert_allclose(tr.stylize(p, x, "a", CIN, clip=True, strength=0.25), 0.25 * today + 0.75 * x, atol=1e-6)
    both = tr.stylize_with(p, x, p["styles"]["a"], CIN, clip=True, strength=jnp.asarray([0.0, 1.0]))
    np.testing.assert_array_equal(both[0], x[0])
    np.testing.assert_array_equal(both[1], today[1])
    every = tr.render_all(p, x, CIN, clip=True, strength=jnp.asarray([0.5, 0.5]))
    np.testing.assert_allclose(every[0], 0.5 * today + 0.5 * x, atol=1e-6)


@pytest.mark.parametrize("cfg", [CIN, JOHNSON], ids=["cin", "johnson"])
def test_transform_with_identity_interpolates_gamma_beta(cfg):
    p, x = transform_params(cfg, ["a", "b", "identity"]), photos()
    assert tr.strength_mode(p["styles"]) == "gamma-beta"
    today = tr.stylize(p, x, "a", cfg, clip=True)
    np.testing.assert_array_equal(tr.stylize(p, x, "a", cfg, clip=True, strength=1.0), today)
    content_path = tr.stylize(p, x, "identity", cfg, clip=True)
    np.testing.assert_allclose(tr.stylize(p, x, "a", cfg, clip=True, strength=0.0), content_path, atol=1e-6)
    half = tr.stylize(p, x, "a", cfg, clip=True, strength=0.5)
    mixed = tr.mix_styles(p["styles"], {"a": 0.5, "identity": 0.5})
    np.testing.assert_allclose(half, tr.stylize_with(p, x, mixed, cfg, clip=True), atol=1e-6)
    assert far(half, today) and far(half, content_path)
    # per image, with regions: (B, R, C) γ/β and (B,) strengths = one call per image
    styles = jax.tree.map(lambda a: jnp.stack([a, a[::-1]]), tr.stack_styles(p["styles"], ["a", "b"]))
    masks = jnp.zeros((2, 2) + x.shape[1:3]).at[:, 0, :, :12].set(1.0).at[:, 1, :, 12:].set(1.0)
    s = jnp.asarray([0.0, 0.6])
    neutral = tr.neutral_style(p)
    got = tr.stylize_with(p, x, styles, cfg, masks=masks, clip=True, strength=s, neutral=neutral)
    for i in range(2):
        one = tr.stylize_with(p, x[i : i + 1], jax.tree.map(lambda a: a[i], styles), cfg, masks=masks[i : i + 1],
                              clip=True, strength=float(s[i]), neutral=neutral)
        np.testing.assert_allclose(got[i], one[0], atol=1e-5)
    np.testing.assert_allclose(got[0], content_path[0], atol=1e-5)


def test_transform_renderer_mode_follows_identity_style(tiny_models):
    m = TransformRenderer(tiny_models["cin"])
    assert m.strength_mode == "pixel"
    x = photos(1, 24, 32)
    np.testing.assert_array_equal(m.render(x, StyleSpec(("red",), strength=0.0))["red"], x)
    m.params = {**m.params, "styles": {**m.params["styles"], "identity": tr.init_style(m.cfg)}}
    assert m.strength_mode == "gamma-beta"
    np.testing.assert_allclose(m.render(x, StyleSpec(("red",), strength=0.0))["red"],
                               m.render(x, StyleSpec(("identity",)))["identity"], atol=1e-6)


# ------------------------------------------------------------------------------ checks, measures


@pytest.mark.parametrize("value, ok", [
    ("0", 0.0), ("1", 1.0), ("0.25", 0.25), (0.5, 0.5),
    ("1.5", None), ("-0.1", None), ("abc", None), ("nan", None), ("inf", None), ("", None), (None, None)])
def test_check_strength(value, ok):
    if ok is None:
        with pytest.raises(ValueError, match="between 0 and 1"):
            st.check_strength(value)
    else:
        assert st.check_strength(value) == ok


def test_preserve_colors_keeps_the_photos_chroma_and_the_outputs_luminance():
    photo = 0.3 + 0.4 * photos(2, 16, 16, seed=3)
    out = 0.3 + 0.4 * photos(2, 16, 16, seed=4)
    kept = np.asarray(keep_colors(photo, out, np.asarray([True, False])))
    yiq_kept, yiq_photo, yiq_out = rgb2yiq(kept[0]), rgb2yiq(np.asarray(photo[0])), rgb2yiq(np.asarray(out[0]))
    np.testing.assert_allclose(yiq_kept[..., 1:], yiq_photo[..., 1:], atol=2e-3)  # I, Q: the photo's
    np.testing.assert_allclose(yiq_kept[..., 0], yiq_out[..., 0], atol=2e-3)  # Y: the output's
    np.testing.assert_array_equal(kept[1], np.asarray(out[1]))  # flag off: as is
    np.testing.assert_allclose(keep_colors(photo, out, True), color.preserve_colors(photo, out))
    assert keep_colors(photo, out, False) is out


# ------------------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("strength_cli")
    y, x = np.mgrid[0:24, 0:32] / 32.0
    img = np.stack([0.3 + 0.4 * y, 0.6 - 0.3 * x, 0.4 + 0.2 * np.sin(8 * x)], -1)
    return image.save_image(d / "photo.png", img)


def stylize_args(models, method, photo, out, *extra):
    return ["stylize", "--method", method, "--model", str(models[method]), "--style", "red", str(photo),
            "--out", str(out), "--quiet", *extra]


@pytest.mark.parametrize("value", ["1.5", "-0.1", "abc", "nan", "inf"])
def test_cli_bad_strength_is_one_line_exit_2(tiny_models, photo_file, tmp_path, capsys, value):
    assert main(stylize_args(tiny_models, "stylebank", photo_file, tmp_path / "x.png", "--strength", value)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("styljax: --strength:") and "between 0 and 1" in err[0], err
    assert not (tmp_path / "x.png").exists()


def test_cli_strength_on_gatys_is_refused(tiny_models, photo_file, tmp_path, capsys):
    rc = main(["stylize", "--method", "gatys", "--content", str(photo_file), "--style", str(photo_file),
               "--out", str(tmp_path / "g.png"), "--strength", "0.5"])
    assert rc == 2 and "--strength" in capsys.readouterr().err


def test_cli_stylebank_strength(tiny_models, photo_file, tmp_path, capsys):
    outs = {}
    for name, extra in {"default": [], "one": ["--strength", "1"], "zero": ["--strength", "0"],
                        "half": ["--strength", "0.5"]}.items():
        assert main(stylize_args(tiny_models, "stylebank", photo_file, tmp_path / f"{name}.png", *extra)) == 0
        outs[name] = image.load_image(tmp_path / f"{name}.png")
    assert "pixel blend" not in capsys.readouterr().out
    np.testing.assert_array_equal(outs["one"], outs["default"])
    m = StyleBankRenderer(tiny_models["stylebank"])
    x = jnp.asarray(image.load_image(photo_file))[None]
    assert np.abs(outs["zero"] - np.asarray(sb.reconstruct(m.params, x, m.cfg, clip=True)[0])).max() <= 0.5 / 255 + 1e-6
    assert far(outs["half"], outs["default"]) and far(outs["half"], outs["zero"])


def test_cli_cin_pixel_note_and_colours(tiny_models, photo_file, tmp_path, capsys):
    assert main(stylize_args(tiny_models, "cin", photo_file, tmp_path / "zero.png", "--strength", "0")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines.count("strength: pixel blend (no identity style in this model)") == 1
    np.testing.assert_array_equal(image.load_image(tmp_path / "zero.png"), image.load_image(photo_file))
    assert main(stylize_args(tiny_models, "cin", photo_file, tmp_path / "full.png")) == 0
    assert "pixel blend" not in capsys.readouterr().out
    # --preserve-colors: the photo's chroma, the output's luminance (up to 8-bit rounding and clipping)
    assert main(stylize_args(tiny_models, "stylebank", photo_file, tmp_path / "col.png", "--preserve-colors")) == 0
    assert main(stylize_args(tiny_models, "stylebank", photo_file, tmp_path / "raw.png")) == 0
    col, raw = (rgb2yiq(image.load_image(tmp_path / f)) for f in ("col.png", "raw.png"))
    ph = rgb2yiq(image.load_image(photo_file))
    assert np.abs(col[..., 1:] - ph[..., 1:]).mean() < 0.01 < np.abs(raw[..., 1:] - ph[..., 1:]).mean()
    assert np.abs(col[..., 0] - raw[..., 0]).mean() < 0.01


def test_even_knots_make_a_measured_s_curve_even():
    from styljax.nets.strength import even_knots, remap

    grid = np.linspace(0.0, 1.0, 11)
    left = 1.0 - grid**3 * (10 - 15 * grid + 6 * grid**2)  # a steep S: 1 at 0, 0 at 1
    knots = even_knots(grid, left)
    assert knots[1][0] == 0.0 and knots[1][-1] == 1.0
    s = np.linspace(0.0, 1.0, 21)
    model_s = np.asarray(remap(s, knots))
    # through the knots, what is left falls in proportion to the control (up to the grid's resolution)
    achieved = 1.0 - np.interp(model_s, grid, left)
    np.testing.assert_allclose(achieved, s, atol=0.06)
    assert remap(None, knots) is None and remap(0.3, None) == 0.3
    assert float(remap(1.0, knots)) == 1.0 and float(remap(0.0, knots)) == 0.0
    # a wobbling measurement still gives a monotone map
    wobbly = even_knots(grid, [1.0, 1.1, 0.9, 1.2, 0.7, 0.5, 0.6, 0.2, 0.1, 0.05, 0.0])
    assert np.all(np.diff(wobbly[1]) >= 0)


def test_stylebank_renderer_reads_its_strength_knots(tiny_models, tmp_path):
    import json
    import shutil

    from styljax import methods
    from styljax.nets import stylebank as sb
    from styljax.render import StyleSpec

    model = tmp_path / "sb"
    shutil.copytree(tiny_models["stylebank"], model)
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["strength_knots"] = {"control": [0.0, 0.5, 1.0], "model": [0.0, 0.8, 1.0]}
    (model / "manifest.json").write_text(json.dumps(manifest))
    r = methods.get("stylebank").open_renderer(model)
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(1, 20, 24, 3)).astype(np.float32))
    out = r.render(x, StyleSpec.parse("red", r.styles, strength=0.5))["red"]
    want = sb.stylize(r.params, x, "red", r.cfg, clip=True, strength=jnp.float32(0.8))
    np.testing.assert_allclose(np.asarray(out), np.asarray(want), atol=1e-6)
    full = r.render(x, StyleSpec.parse("red", r.styles, strength=1.0))["red"]
    np.testing.assert_array_equal(np.asarray(full), np.asarray(r.render(x, StyleSpec.parse("red", r.styles))["red"]))
