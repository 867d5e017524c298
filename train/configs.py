"""Every training experiment, in one list: `styljax train NAME` runs `get_config(NAME)`.

A `Config` is the whole recipe: its method (a `styljax.methods` entry with a training task), the
task's config (model, loss, learning rate), what trains (`trainable`, a `styljax.training.Trainable`
freeze filter), the data geometry and the loop's cadence. `doc` is the command that runs it and
the result it gave; `styljax train NAME --help` shows it. Flags override steps, batch, crop, rate
and seed. `styljax train METHOD [--config SHORT]` (as the README spells it) picks METHOD-SHORT,
or the method's `default` config.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from styljax.errors import StyljaxError
from styljax.losses.perceptual import PerceptualLoss
from styljax.nets.coherent import VideoNetConfig
from styljax.nets.stylebank import StyleBankConfig
from styljax.nets.texture_net import TextureNetConfig
from styljax.nets.transform import TransformConfig
from styljax.tasks import stylebank as sbt
from styljax.tasks import transform as trt
from styljax.tasks.coherent import VideoLoss, VideoTrainConfig
from styljax.tasks.stylebank import ReconstructionLoss, StyleBankLoss, StyleBankTrainConfig
from styljax.tasks.transform import TransformTrainConfig
from styljax.training import Trainable
from styljax.video.synthetic import MotionConfig


@dataclasses.dataclass(frozen=True)
class Config:
    """One experiment.

    Attributes:
      name: what `styljax train NAME` calls it (unique).
      method: its `styljax.methods` entry.
      train: the method's task config (`StyleBankTrainConfig`, `TransformTrainConfig`, `VideoTrainConfig`).
      trainable: what the optimiser sees; everything else is frozen. None: the task's own (all of it).
      steps, batch_size, crop: the run's length and batches (crop: square side, px).
      short_side: content images are resized to this short side before random crops.
      scales: zoom range of the random crops (`styljax.io.data.random_crop`).
      exclude: content stems held out for evaluation.
      frames, motion: synthetic clips (video nets only): clip length and camera/object motion.
      add_style: a new style trained into a frozen model (`styljax add-style`; `trainable` names it as `{new}`).
      default: the config `styljax train METHOD` runs.
      doc: the command that runs it and the result it gave.
    """

    name: str
    method: str
    train: Any
    steps: int
    batch_size: int
    crop: int
    short_side: int
    trainable: Trainable | None = None
    log_every: int = 10
    sample_every: int = 100
    checkpoint_every: int = 100
    exclude: tuple[str, ...] = ()
    seed: int = 0
    scales: tuple[float, float] = (1.0, 1.0)
    frames: int = 2
    motion: MotionConfig = MotionConfig()
    add_style: bool = False
    default: bool = False
    doc: str = ""


# The objective of the shipped StyleBank model, shared by the CIN and Johnson models so that the
# side-by-side comparison (BENCHMARKS.md) measures the architectures, not the losses.
KODAK_LOSS = PerceptualLoss(
    # Johnson's layers on the caffe-convention VGG-16 (content relu3_3; style relu1_2, relu2_2,
    # relu3_3, relu4_3; Gram / (C·H·W), squared distance averaged over the C×C entries), with
    # each style layer weighted by 1/median of its photo-to-painting distance (Kodak kodim01-19
    # odd × the six paintings: 1531, 4.62, 0.0373, 3.2e-5), scaled so the four sum to the old
    # relu1_2 term. With equal weights relu1_2 was 7 orders of magnitude above relu4_3, so the
    # net learnt only fine-scale colour statistics: 4 of 24 held-out outputs were nearest their
    # own painting.
    content_layers=(("relu3_3", 1.0),),
    style_layers=(("relu1_2", 0.25), ("relu2_2", 80.0), ("relu3_3", 1.0e4), ("relu4_3", 1.0e7)),
    content_weight=1.0, style_weight=10.0, tv_weight=10.0,
)
KODAK_HELD_OUT = ("kodim21", "kodim22", "kodim23", "kodim24")
# The objective of the held-out-quality stage (issue #19, "stylebank-kodak-wiki-render" below): a
# relu2_2 content term for the photo's edges and a lighter style term.
RENDER_LOSS = dataclasses.replace(KODAK_LOSS, content_layers=(("relu2_2", 0.2), ("relu3_3", 1.0)), style_weight=1.5)
# Wikipedia photos (../shared/data/content/wikipedia/NNN.jpg) for evaluation only: a run that trains on
# that folder must exclude them. With KODAK_HELD_OUT, the held-out set `bench.quality` judges on.
WIKIPEDIA_HELD_OUT = ("033", "034", "035", "036", "037", "038", "039", "040")
HELD_OUT = KODAK_HELD_OUT + WIKIPEDIA_HELD_OUT

# The data geometry of the issue #19/#31 render-scale stages: photos at the 512 px rendering scale
# (352 px short side), 192 px crops hold strokes at their rendered size at 0.56x the cost of 256 px.
RENDER_GEOMETRY = dict(batch_size=4, crop=192, short_side=352, exclude=HELD_OUT, log_every=20, checkpoint_every=50)
KODAK_GEOMETRY = dict(batch_size=4, crop=128, short_side=160, exclude=HELD_OUT)
TINY_GEOMETRY = dict(steps=6, batch_size=2, crop=32, short_side=40, log_every=1, sample_every=3, checkpoint_every=3)
TINY_LOSS = PerceptualLoss(style_size=64)
STYLES = "--styles STYLES --content-dir ../shared/data/content/kodak ../shared/data/content/wikipedia"

_KODAK_WIKI_TRAIN = StyleBankTrainConfig(
    model=StyleBankConfig(output="sigmoid"), loss=dataclasses.replace(RENDER_LOSS, style_weight=3.0),
    learning_rate=1e-3, decay_every=1000,
)
_AUTOENCODER_TRAIN = StyleBankTrainConfig(
    model=StyleBankConfig(output="sigmoid", restore_tone=True), loss=RENDER_LOSS,
    learning_rate=1e-3, decay_every=1500, autoencoder_only=True,
    identity=ReconstructionLoss(pixel_weight=2e4, content_layers=(("relu2_2", 0.1), ("relu3_3", 0.5))),
)


def _transform_render_stages(method: str, model: TransformConfig, style_weight: float) -> list[Config]:
    """The held-out-quality recipe of the transform nets (issue #19), the same for CIN and Johnson:
    "identity" from a fresh net, then "kodak-wiki-render" (--init identity's), then "render-soft"."""

    def train(style: float, lr: float, identity_style: bool) -> TransformTrainConfig:
        return TransformTrainConfig(model=model, loss=dataclasses.replace(RENDER_LOSS, style_weight=style),
                                    learning_rate=lr, decay_every=1000, identity_style=identity_style)

    styles = STYLES if method == "cin" else STYLES.replace("--styles STYLES", "--style PAINTING")
    return [
        Config(f"{method}-identity", method, train(0.0, 2e-3, False), steps=300, sample_every=100, **RENDER_GEOMETRY,
               doc="Stage 1: the content and TV terms alone (every style's γ/β), so the net starts by reproducing "
                   "the photo at the scale it will render (fine-tuning the shipped net kept its blob textures).\n"
                   f"  styljax train {method}-identity {styles} --out STAGE1"),
        Config(f"{method}-kodak-wiki-render", method, train(style_weight, 1e-3, True), steps=3000, sample_every=250,
               **RENDER_GEOMETRY,
               doc="Stage 2: the paintings from stage 1, StyleBank's render-stage content layers, a lighter style "
                   "weight (CIN x2: the net has more capacity than StyleBank's, and the photo was what CIN lost; "
                   "Johnson x1: one painting gets all of the net, at x2 it kept 0.34 of the held-out structure), and "
                   "the reserved `identity` style kept on the content terms (what strength 0 interpolates toward).\n"
                   f"  styljax train {method}-kodak-wiki-render --init STAGE1 {styles} --out OUT"),
        Config(f"{method}-render-soft", method, train(0.75 * style_weight, 5e-4, True), steps=1000, sample_every=250,
               **RENDER_GEOMETRY,
               doc="Stage 3 (--init the stage-2 model): 3/4 of the style weight at half the rate, for when stage 2 "
                   "matches the paintings better than the peer does and keeps less photo. The shipped CIN (12 "
                   "held-out photos x 6 paintings at 512 px): stage 2 stopped at 1,320 steps, structure 0.63 / style "
                   "distance 0.67; stage 3 at 280 steps 0.73 / 0.68, 71/72 nearest its own painting (the peer: "
                   "0.73 / 0.83). Johnson: stage 2 at 700 steps.\n"
                   f"  styljax train {method}-render-soft --init STAGE2 {styles} --out OUT"),
    ]


CONFIGS: list[Config] = [
    # ------------------------------------------------------------------------------ StyleBank
    Config(
        "stylebank-kodak", "stylebank",
        StyleBankTrainConfig(model=StyleBankConfig(output="sigmoid"), loss=KODAK_LOSS, learning_rate=2e-3, decay_every=500),
        steps=1600, **KODAK_GEOMETRY, default=True,
        doc="The shipped 6-style model's first stage (checkpoints/stylebank): Kodak minus kodim21-24, 2 CPU cores.\n"
            "  styljax train stylebank --styles STYLES --content-dir ../shared/data/content/kodak --out OUT",
    ),
    Config(
        "stylebank-kodak-wiki", "stylebank", _KODAK_WIKI_TRAIN,
        steps=6000, batch_size=4, crop=160, short_side=200, exclude=HELD_OUT, log_every=20, sample_every=500,
        doc="The held-out-quality recipe (issue #19), fine-tuned from the shipped model. The shipped model's own "
            "reconstruction had a relu3_3 content error of 53-92 (its stylized outputs 90-223), so edges go before "
            "the style does: a relu2_2 content term asks for the photo's edges, style x3 instead of x10 lets them "
            "through, 160 px crops of 200 px photos sit closer to the rendering scale, 52 photos instead of 20.\n"
            f"  styljax train stylebank-kodak-wiki --init checkpoints/stylebank {STYLES} --out OUT\n"
            "Judge with `python -m bench.quality`.",
    ),
    Config(
        "stylebank-kodak-wiki-render", "stylebank",
        dataclasses.replace(_KODAK_WIKI_TRAIN, loss=RENDER_LOSS, learning_rate=5e-4),
        steps=3000, batch_size=4, crop=256, short_side=352, exclude=HELD_OUT, log_every=20, sample_every=250,
        checkpoint_every=50,
        doc="The second held-out-quality stage (issue #19), --init the kodak-wiki model: photos at the 512 px "
            "rendering scale cropped at 256 px, style weight halved (3 -> 1.5).\n"
            f"  styljax train stylebank-kodak-wiki-render --init KODAK_WIKI {STYLES} --out OUT\n"
            "Result at step 460: held-out structure 0.53, style distance 0.92 (above the peer's), 72/72 nearest "
            "own, artefact 4.8: not shipped (BENCHMARKS.md, \"Held-out quality\").",
    ),
    Config(
        "stylebank-autoencoder", "stylebank", _AUTOENCODER_TRAIN, trainable=sbt.TRAIN_AUTOENCODER,
        steps=3000, scales=(0.7, 1.4), sample_every=250, **RENDER_GEOMETRY,
        doc="The reconstruction stage (issue #31): E and D learn to give the photo back at the rendering scale "
            "before any bank trains, warm-started from a model's auto-encoder, the photo's tones restored "
            "(`StyleBankConfig.restore_tone`). The pixel term leads (x2e4: 200 at the shipped auto-encoder's "
            "20 dB, 50 at the 26 dB target); relu2_2/relu3_3 terms keep edges from blurring.\n"
            f"  styljax train stylebank-autoencoder --init checkpoints/stylebank {STYLES} --out AE\n"
            "Result at step 300 (512 px, held out): structure 0.980, PSNR 25.3 dB. Judge with "
            "`python -m bench.reconstruction`.",
    ),
    Config(
        "stylebank-banks", "stylebank",
        dataclasses.replace(_AUTOENCODER_TRAIN, loss=dataclasses.replace(RENDER_LOSS, style_weight=2.0),
                            autoencoder_only=False, bank_norm_weight=10.0),
        steps=3000, scales=(0.8, 1.25), sample_every=250, **RENDER_GEOMETRY,
        doc="The banks stage (issue #31), --init the reconstruction stage's model: the paper's T+1 schedule with "
            "the auto-encoder branch on the same reconstruction objective, banks kept as loud as the features "
            "they replace (bank_norm_weight: log-gain² x10).\n"
            f"  styljax train stylebank-banks --init AE {STYLES} --out OUT",
    ),
    Config(
        "stylebank-paper", "stylebank",
        StyleBankTrainConfig(learning_rate=1e-3, decay_every=30_000, decay_rate=0.8),
        steps=300_000, batch_size=4, crop=512, short_side=544, sample_every=2000, checkpoint_every=2000,
        doc="Paper scale (GPU/TPU): 512 crops, batch 4, lr 1e-3 decayed x0.8 every 30k, 300k steps.",
    ),
    Config(
        "stylebank-add-style", "stylebank",
        StyleBankTrainConfig(learning_rate=5e-3, decay_every=400, decay_rate=0.8), trainable=sbt.TRAIN_NEW_BANKS,
        steps=300, batch_size=4, crop=160, short_side=192, exclude=HELD_OUT, add_style=True,
        doc="A new style on a frozen auto-encoder: only its bank trains (the loss is the model's own).\n"
            "  styljax add-style --model MODEL --style painting.jpg --name NAME",
    ),
    Config(
        "stylebank-tiny", "stylebank",
        StyleBankTrainConfig(model=StyleBankConfig(channels=(8, 16, 32)), loss=StyleBankLoss(style_size=64),
                             learning_rate=1e-2),
        **TINY_GEOMETRY, doc="Seconds-long smoke run (tests, CI).",
    ),
    # ------------------------------------------------------------------------------ CIN
    Config(
        "cin-kodak", "cin",
        TransformTrainConfig(model=TransformConfig.cin(), loss=KODAK_LOSS, learning_rate=2e-3, decay_every=500),
        steps=1200, **KODAK_GEOMETRY, default=True,
        doc="The first CIN model: the StyleBank model's paintings, split and objective.\n"
            "  styljax train cin --styles STYLES --content-dir ../shared/data/content/kodak --out OUT",
    ),
    *_transform_render_stages("cin", TransformConfig.cin(), style_weight=2.0),
    Config(
        "cin-render-clean", "cin",
        TransformTrainConfig(model=TransformConfig.cin(restore_tone=True), loss=dataclasses.replace(RENDER_LOSS, style_weight=1.5),
                             learning_rate=5e-4, decay_every=1000, identity_style=True,
                             identity_pixel_weight=5e4, anchor_weight=500.0),
        steps=300, sample_every=100, **RENDER_GEOMETRY,
        doc="Stage 4 (issue #31 item 4, #34 item 2), --init the shipped model: render-soft's objective plus a "
            "pixel term on the identity style (tones restored, as strength 0 renders it) and a pull of every "
            "painting's residual-first γ/β toward the identity's, the norms that switch CIN's streaks on.\n"
            f"  styljax train cin-render-clean --init checkpoints/cin {STYLES} --out OUT\n"
            "Result at 300 steps (12 held-out photos x 6 paintings, 512 px): structure 0.75, style distance 0.55, "
            "72/72 nearest own (shipped: 0.74 / 0.66 / 71), streak term 6.7 (shipped 5.8: the-scream's streaks grew "
            "back); the identity path 0.957 / 22.3 dB / 1.3 levels (shipped 0.916 / 18.2 / 2.9). Not shipped "
            "(BENCHMARKS.md, issue #31 item 4).",
    ),
    Config(
        "cin-add-style", "cin",
        TransformTrainConfig(model=TransformConfig.cin(), loss=KODAK_LOSS, learning_rate=1e-2, decay_every=400),
        trainable=trt.TRAIN_NEW_STYLES, steps=300, batch_size=4, crop=160, short_side=192, exclude=HELD_OUT,
        add_style=True,
        doc="A new style on a frozen net: only its γ/β train (the loss is the model's own).\n"
            "  styljax add-style --model checkpoints/cin --style painting.jpg --out MY_CIN",
    ),
    Config(
        "cin-tiny", "cin",
        TransformTrainConfig(model=TransformConfig.cin(channels=(8, 16, 32), residual_blocks=2), loss=TINY_LOSS,
                             learning_rate=1e-2),
        **TINY_GEOMETRY, doc="Seconds-long smoke run (tests, CI).",
    ),
    # ------------------------------------------------------------------------------ Johnson
    Config(
        "johnson-kodak", "johnson",
        TransformTrainConfig(model=TransformConfig.johnson(), loss=KODAK_LOSS, learning_rate=2e-3, decay_every=500),
        steps=300, **KODAK_GEOMETRY, default=True,
        doc="The first Johnson model: one painting, the same split and objective (3,002 s on the 2 shared cores).\n"
            "  styljax train johnson --style PAINTING --content-dir ../shared/data/content/kodak --out OUT",
    ),
    *_transform_render_stages("johnson", TransformConfig.johnson(), style_weight=1.0),
    Config(
        "johnson-tiny", "johnson",
        TransformTrainConfig(model=TransformConfig.johnson(channels=(8, 16, 32), residual_blocks=2), loss=TINY_LOSS,
                             learning_rate=1e-2),
        **TINY_GEOMETRY, doc="Seconds-long smoke run (tests, CI).",
    ),
    # ------------------------------------------------------------------------------ texture networks
    Config(
        "texture-net-kodak-wiki", "texture-net",
        TransformTrainConfig(model=TextureNetConfig(), loss=dataclasses.replace(RENDER_LOSS, style_weight=1.0),
                             learning_rate=1e-2, decay_every=500),
        steps=400, sample_every=100, **RENDER_GEOMETRY, default=True,
        doc="Ulyanov et al.'s texture network on one painting, beside the shipped Johnson net: the same "
            "render-scale objective (Johnson's x1 style weight), photos and held-out split; the paper's "
            "rate (Adam 1e-2), its 5 scales of 8 channels, instance norm (the follow-up paper).\n"
            f"  styljax train texture-net --style starry-night.jpg {STYLES.split(' ', 2)[2]} --out OUT\n"
            "  Held out (starry-night, 12 photos at 512 px, 400 steps): structure 0.42, style distance 0.59, "
            "12/12 nearest own (Johnson 0.59 / 0.51); the painting's texture over a faint photo: not shipped.",
    ),
    Config(
        "texture-net-tiny", "texture-net",
        TransformTrainConfig(model=TextureNetConfig(scales=3, channels=4), loss=TINY_LOSS, learning_rate=1e-2),
        **TINY_GEOMETRY, doc="Seconds-long smoke run (tests, CI).",
    ),
    # ------------------------------------------------------------------------------ video (Net1)
    Config(
        "video", "video",
        VideoTrainConfig(learning_rate=3e-3, decay_every=1000, decay_rate=0.7, flow_warmup=2000),
        steps=3000, batch_size=4, crop=128, short_side=256, frames=3, log_every=20, sample_every=250,
        checkpoint_every=250, exclude=HELD_OUT, default=True,
        doc="The shipped Net1 (checkpoints/video): Kodak minus kodim21-24 as backgrounds, flow-only warm-up "
            "(the paper starts from a pretrained FlowNet), then the full loss; lr 3e-3 learnt the flow ~2x "
            "faster than 1e-3 in a 400-step trial (held-out EPE 0.39 vs 0.47 feature px; zero flow: 0.50).\n"
            "  styljax train video --style starry-night --content-dir ../shared/data/content/kodak --out OUT",
    ),
    Config(
        "video-finetune", "video",
        VideoTrainConfig(learning_rate=1e-3, decay_every=1000, decay_rate=0.7, flow_warmup=0),
        steps=400, batch_size=4, crop=128, short_side=256, frames=3, log_every=20, sample_every=200,
        checkpoint_every=100, exclude=HELD_OUT,
        doc="Net1 moved to a new StyleBank model (issue #19): from the shipped Net1 (--init), the full loss at "
            "once; its flow net never sees the StyleBank, the mask net learns the new features.\n"
            "  styljax train video-finetune --init checkpoints/video --model NEW_STYLEBANK --style starry-night "
            "--content-dir ../shared/data/content/kodak --out OUT",
    ),
    Config(
        "video-tiny", "video",
        VideoTrainConfig(net=VideoNetConfig(flow_channels=(8, 8, 16, 16), mask_channels=(8, 8), correlation=2),
                         loss=VideoLoss(), learning_rate=1e-3),
        steps=4, batch_size=2, crop=32, short_side=48, frames=2, log_every=1, sample_every=2, checkpoint_every=2,
        doc="Seconds-long smoke run (tests, CI).",
    ),
]

_BY_NAME = {c.name: c for c in CONFIGS}
assert len(_BY_NAME) == len(CONFIGS), "config names must be unique"


def names(method: str | None = None) -> tuple[str, ...]:
    """The configs' names in list order; only `method`'s if given."""
    return tuple(c.name for c in CONFIGS if method is None or c.method == method)


def default(method: str) -> Config:
    """The config `styljax train METHOD` runs."""
    return next(c for c in CONFIGS if c.method == method and c.default)


def get_config(name: str, method: str | None = None) -> Config:
    """The config `name`; with `method`, `METHOD-NAME` first (how `--config` spells it). A one-line
    error with the nearest name otherwise."""
    for candidate in ((f"{method}-{name}", name) if method else (name,)):
        cfg = _BY_NAME.get(candidate)
        if cfg is not None and (method is None or cfg.method == method):
            return cfg
    known = names(method)
    close = difflib.get_close_matches(name, known, n=1) or difflib.get_close_matches(f"{method}-{name}", known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise StyljaxError(f"unknown config {name!r}{' of ' + method if method else ''}{hint}; known: {', '.join(known)}")
