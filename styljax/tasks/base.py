"""What every perceptual-loss training task shares: its config, the frozen VGG it measures with, the
named style images, what trains (a `Trainable`), and the params a run starts from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from styljax.nets.vgg import VggWeights
from styljax.training import FROZEN, Trainable, schedule


class PerceptualTask:
    """The common constructor of the tasks trained against VGG features of style images.

    Subclasses name their `method` and `default_trainable`, then derive their model's own state.

    Args:
      cfg: the task's train config (`learning_rate`, `decay_every`, `decay_rate` and the model's).
      vgg: the loss network's weights.
      styles: style name → (H, W, 3) image in [0, 1].
      method: the registry name the run is for (default: the class's `method`).
      trainable: the groups the optimiser sees (default: the class's `default_trainable`).
      new_styles: the names the `{new}` patterns of `trainable` stand for.
      init_params: params to start from (a trained model, for add-style), else a fresh init.
    """

    method: str
    default_trainable: Trainable

    def __init__(self, cfg: Any, vgg: VggWeights, styles: Mapping[str, np.ndarray], *, method: str | None = None,
                 trainable: Trainable | None = None, new_styles: Sequence[str] = (),
                 init_params: dict | None = None):
        self.name = method or self.method
        self.cfg = cfg
        self.vgg = vgg
        self.trainable = trainable or self.default_trainable
        self.new_styles = tuple(new_styles)
        self.learning_rate = schedule(cfg.learning_rate, cfg.decay_every, cfg.decay_rate)
        self.style_images = {n: np.asarray(s, np.float32) for n, s in styles.items()}
        self.start_params = init_params

    def trains(self, path: str) -> bool:
        """Whether the leaf at `path` ("banks/wave/kernel") is in a group the optimiser sees."""
        return self.trainable.group_of(path, self.new_styles) != FROZEN
