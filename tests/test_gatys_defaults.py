"""Scale-aware Gatys / MRF defaults (issue #34 item 8): the settings chosen per render size, and the
CLI taking them."""

import argparse
import dataclasses

import numpy as np
import pytest

from styljax.evaluation import metrics
from styljax.imaging import geometry
from styljax.infer import stylize as stylize_cli
from styljax.optimization import gatys


def test_reference_size_and_above_keep_the_tuned_settings():
    # at 512 px (and 1024 px) the defaults are exactly today's, so 512 px renders are unchanged
    for size, sizes in ((512, (256, 512)), (1024, (512, 1024))):
        cfg = gatys.default_config(size)
        assert cfg == dataclasses.replace(gatys.GatysConfig(), sizes=sizes, steps=(200, 100))
    mrf = gatys.default_config(512, "mrf")
    assert mrf == dataclasses.replace(gatys.GatysConfig(**gatys.MRF_DEFAULTS), sizes=(128, 256, 512),
                                      steps=(100, 100, 100))
    assert gatys.default_config(1024, "mrf").sizes == (256, 512, 1024)


def test_small_sizes_weigh_the_content_more_and_skip_tiny_scales():
    g160, g256, g512 = (gatys.default_config(s) for s in (160, 256, 512))
    assert g160.content_weight > g256.content_weight > g512.content_weight == 5.0
    assert g160.content_weight == pytest.approx(5.0 * (512 / 160) ** gatys.CONTENT_WEIGHT_POWER["gram"])
    assert g160.sizes == (80, 160) and g160.steps_per_scale() == (200, 100)
    assert g160.style_layers == g512.style_layers and g160.style_weight == g512.style_weight
    m160 = gatys.default_config(160, "mrf")
    assert m160.sizes == (80, 160)  # 40 px is under MIN_SCALE_SIDE
    assert m160.steps_per_scale() == (100, 100)
    assert m160.content_layers == (("relu3_1", 1.0),)  # a 40 px map, not relu4_2's 20 px
    assert m160.content_weight == gatys.MRF_DEFAULTS["content_weight"]
    assert gatys.default_config(384, "mrf").content_layers == gatys.MRF_DEFAULTS["content_layers"]
    # a render under MIN_SCALE_SIDE still gets one scale, with the one-scale step count
    tiny = gatys.default_config(48)
    assert tiny.sizes == (48,) and tiny.steps_per_scale() == (300,)
    # an explicit number of scales is kept as asked
    assert gatys.default_config(160, "mrf", n_scales=3).sizes == (40, 80, 160)
    with pytest.raises(ValueError, match="style_loss"):
        gatys.default_config(160, "patch")


def _cli_args(*argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    stylize_cli.register(sub)
    return p.parse_args(["stylize", "--content", "c.png", "--style", "s.png", "--out", "o.png", *argv])


@pytest.mark.parametrize("size, loss", [(160, "gram"), (1024, "gram"), (160, "mrf"), (512, "mrf")])
def test_cli_uses_the_scale_aware_defaults(size, loss):
    cfg = stylize_cli.gatys_config(_cli_args("--size", str(size), "--style-loss", loss))
    want = gatys.default_config(size, loss)
    assert (cfg.sizes, cfg.steps_per_scale(), cfg.content_weight, cfg.content_layers) == (
        want.sizes, want.steps_per_scale(), want.content_weight, want.content_layers)
    # a flag still wins over the scale-aware default
    cfg = stylize_cli.gatys_config(_cli_args("--size", str(size), "--style-loss", loss, "--content-weight", "7"))
    assert cfg.content_weight == 7.0


@pytest.mark.slow
@pytest.mark.weights
def test_small_render_keeps_the_photo_against_a_bold_texture(real_vgg):
    """A 96 px photo against scikit-image's brick texture: the scale-aware weight keeps more of the
    photo's edges than the 512 px weight, and above a bound."""
    import skimage.data

    fit = lambda x: np.asarray(geometry.resize(np.asarray(x, np.float32), (96, 96)))
    photo = fit(skimage.data.astronaut() / 255.0)
    brick = fit(np.repeat(skimage.data.brick()[..., None] / 255.0, 3, axis=-1))
    new = dataclasses.replace(gatys.default_config(96), sizes=(96,), steps=(40,))
    old = dataclasses.replace(new, content_weight=gatys.GatysConfig().content_weight)
    kept = {k: metrics.structure_kept(gatys.stylize(real_vgg, photo, [brick], c), photo)
            for k, c in (("new", new), ("old", old))}
    assert kept["new"] > kept["old"] and kept["new"] > 0.5, kept
