"""The rendering interface (`styljax.render`): `StyleSpec` from its text form, and a renderer
driven by specs (mask regions, every style, one style)."""

from __future__ import annotations

import numpy as np
import pytest

from styljax.errors import StyljaxError
from styljax.render import MAX_FUSION_WEIGHT, StyleSpec

KNOWN = ["wave", "the-scream", "starry-night"]


def test_parse_one_style():
    s = StyleSpec.parse("wave", KNOWN)
    assert s == StyleSpec(("wave",))
    assert (s.mode, s.tags, s.weights, s.every, s.regional) == ("single", ("wave",), None, False, False)
    assert StyleSpec.parse("wave:0.3", KNOWN).weights is None  # one style: its weight is moot


def test_parse_linear_mix():
    s = StyleSpec.parse("wave:0.5, the-scream:1.5", KNOWN, strength=0.25, preserve_colors=True)
    assert s.names == ("wave", "the-scream") and s.weights == (0.5, 1.5)
    assert (s.mode, s.tags, s.strength, s.preserve_colors) == ("fusion", ("fusion",), 0.25, True)
    assert s.weight_map == {"wave": 0.5, "the-scream": 1.5}
    equal = StyleSpec.parse("wave,starry-night", KNOWN)
    assert equal.weights == (1.0, 1.0) and equal.mode == "fusion"
    assert StyleSpec.parse("wave:-0.5,the-scream:1", KNOWN).weights == (-0.5, 1.0)  # extrapolation is allowed


def test_parse_all_and_one_of_all():
    s = StyleSpec.parse("all", KNOWN, strength=0.5)
    assert s.every and s.names == tuple(KNOWN) and s.tags == tuple(KNOWN) and s.mode == "all"
    one = s.one("wave")
    assert one == StyleSpec(("wave",), strength=0.5) and one.mode == "single"


def test_parse_regions_and_mask():
    k = StyleSpec.parse("wave,the-scream", KNOWN, regions=2)
    assert (k.mode, k.tags, k.regions, k.mask) == ("regions", ("regions",), 2, None)
    m = StyleSpec.parse("wave,the-scream,starry-night", KNOWN, mask="m.png")
    assert m.regional and m.mask == "m.png" and m.names == ("wave", "the-scream", "starry-night")


@pytest.mark.parametrize("text, kw, message", [
    ("nope", {}, r"^--style: unknown styles: nope; this model has: wave, the-scream, starry-night$"),
    ("wave:x", {}, r"^--style: bad weight in 'wave:x'$"),
    ("wave:nan,the-scream", {}, r"must be a finite number"),
    (f"wave:{2 * MAX_FUSION_WEIGHT:g},the-scream", {}, r"at most 1000 in magnitude"),
    ("wave:1,the-scream:-1", {}, r"must sum to > 0"),
    ("wave:1000,the-scream:-999.9", {}, r"nearly cancel out"),
    (",", {}, r"^--style: empty$"),
    ("all", {"regions": 2}, r"need one style per region"),
    ("wave,the-scream", {"regions": 3}, r"^--regions 3 needs 3 styles in --style, got 2$"),
    ("nope", {"what": "mask_style"}, r"^mask_style: unknown styles"),
])
def test_parse_errors_are_one_line(text, kw, message):
    with pytest.raises(StyljaxError, match=message):
        StyleSpec.parse(text, KNOWN, **kw)


def test_spec_invariants():
    with pytest.raises(ValueError):
        StyleSpec(())
    with pytest.raises(ValueError):
        StyleSpec(("a", "b"), weights=(1.0,))
    with pytest.raises(ValueError):
        StyleSpec(("a", "b"), every=True, regions=2)
    assert StyleSpec(["a", "b"], [1, 2]).names == ("a", "b")  # lists become tuples: specs stay hashable
    assert hash(StyleSpec(["a"])) == hash(StyleSpec(("a",)))


def test_renderer_renders_specs(tiny_models, tmp_path):
    """Specs through a renderer: a mask file's regions equal the same masks given as arrays, every
    style equals each style alone, and a mix's params are made once and reused."""
    import jax
    import jax.numpy as jnp

    from styljax import methods
    from styljax.io import image
    from styljax.render import mask_regions

    r = methods.open_renderer(tiny_models["stylebank"])
    x = jax.random.uniform(jax.random.key(0), (2, 24, 32, 3))
    grey = np.zeros((24, 32, 3), np.float32)
    grey[:, 16:] = 1.0
    image.save_image(tmp_path / "mask.png", grey)
    masks = mask_regions(tmp_path / "mask.png", 2, (24, 32))
    assert masks.shape == (2, 24, 32) and masks[0, :, :16].all() and masks[1, :, 16:].all() and masks.sum() == 24 * 32
    spec = StyleSpec.parse("red,blue", r.styles, mask=str(tmp_path / "mask.png"))
    got = r.render(x, spec)["regions"]
    np.testing.assert_array_equal(got, r.render_regions(x, ("red", "blue"), np.stack([masks] * 2)))
    every = r.render(x, StyleSpec.parse("all", r.styles))
    for name in r.styles:
        np.testing.assert_allclose(every[name], r.render(x, StyleSpec((name,)))[name], atol=1e-5)
    mix = StyleSpec.parse("red:0.5,blue:0.5", r.styles)
    params = r.style_params(mix)
    np.testing.assert_array_equal(r.render(x, mix, params)["fusion"], r.render(x, mix)["fusion"])
    with pytest.raises(ValueError):
        r.style_params(spec)  # regions have no single params
    assert float(jnp.abs(every["red"] - every["blue"]).mean()) > 1e-3
