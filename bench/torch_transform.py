"""PyTorch mirror of the styljax transform net (`styljax.nets.transform.TransformNet`, CIN and
Johnson) and of `TransformTask.train_step` — for `bench.stylebank`'s train_step comparison (same
maths, same weights, same threads).

Network (NCHW, float32), built from a `TransformConfig` and initialised by copying the Flax params
(conv kernels HWIO -> OIHW); every conv reflection-padded (`Conv2d(padding_mode="reflect")`):

  conv1        9x9 s1 3->c1, CIN, ReLU
  conv2/conv3  3x3 s2 c1->c2, c2->c3, CIN, ReLU
  res1..resR   x + CIN_b(conv3x3(ReLU(CIN_a(conv3x3(x)))))
  up1, up2     nearest x2 + 3x3 conv c3->c2, c2->c1, CIN, ReLU
  out          9x9 c1->3: no bias + CIN if `norm_output` (CIN), else with bias (Johnson)
  head         sigmoid, or caffe mean + 150/255 · tanh ("tanh150")

CIN (conditional instance norm): γ · IN(x) + β with IN over H, W per image and channel (biased
variance, eps 1e-5) and γ, β picked per image from the style ids: each norm holds its styles' γ/β
as (K, C) parameters (the JAX task's stacked `params["styles"]`, in `style_names` order), so the
per-image gather and its gradient are those of `TransformTask.loss`. Convs before a norm have no
bias. Images are reflect-padded bottom/right to multiples of 4 and the output cropped back (as
`stylize_with`).

`TorchTransformTrainer`: `TransformTask.train_step` (all styles and the net train): round-robin
style ids, the perceptual loss of `bench.torch_common` with the task's layers, weights and Gram
normalisation, one Adam over the convs and every γ/β.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bench.torch_common import (
    PerceptualTrainer,
    copy_conv,
    instance_norm,
    pad_to_multiple,
    reflect_conv,
    to_tensor,
    upsample2x,
)


class TorchTransformNet(nn.Module):
    """The transform net of `cfg` with the convs of `params["net"]` and the γ/β of `names`."""

    def __init__(self, cfg, params: dict, names: Sequence[str]):
        super().__init__()
        from styljax.nets.transform import CAFFE_MEAN_RGB

        self.cfg = cfg
        self.names = tuple(names)
        c1, c2, c3 = cfg.channels
        net = params["net"]
        spec = {"conv1": (3, c1, 9, 1), "conv2": (c1, c2, 3, 2), "conv3": (c2, c3, 3, 2)}
        self.res = [(f"res{i}a", f"res{i}b") for i in range(1, cfg.residual_blocks + 1)]
        for a, b in self.res:
            spec[a] = spec[b] = (c3, c3, 3, 1)
        spec.update(up1=(c3, c2, 3, 1), up2=(c2, c1, 3, 1), out=(c1, 3, 9, 1))
        self.convs = nn.ModuleDict()
        for name, (cin, cout, k, s) in spec.items():
            bias = name == "out" and not cfg.norm_output
            self.convs[name] = reflect_conv(cin, cout, k, s, bias=bias)
            copy_conv(self.convs[name], net[name])
        styles = params["styles"]
        self.scale = nn.ParameterDict()
        self.bias = nn.ParameterDict()
        for name in cfg.norm_channels():
            for attr, key in ((self.scale, "scale"), (self.bias, "bias")):
                attr[name] = nn.Parameter(torch.stack([to_tensor(styles[n][name][key]) for n in self.names]))
        self.register_buffer("mean", torch.tensor(CAFFE_MEAN_RGB, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, x: torch.Tensor, ids: Sequence[int]) -> torch.Tensor:
        """Render NCHW RGB [0, 1] images, image j in style ids[j]."""
        h, w = x.shape[-2:]
        idx = torch.as_tensor(list(ids), dtype=torch.long)

        def conv_norm(y, name, relu=True, upsample=False):
            if upsample:
                y = upsample2x(y)
            y = instance_norm(self.convs[name](y))
            y = y * self.scale[name][idx][:, :, None, None] + self.bias[name][idx][:, :, None, None]
            return F.relu(y) if relu else y

        y = conv_norm(pad_to_multiple(x), "conv1")
        y = conv_norm(y, "conv2")
        y = conv_norm(y, "conv3")
        for a, b in self.res:
            y = y + conv_norm(conv_norm(y, a), b, relu=False)
        y = conv_norm(y, "up1", upsample=True)
        y = conv_norm(y, "up2", upsample=True)
        y = conv_norm(y, "out", relu=False) if self.cfg.norm_output else self.convs["out"](y)
        y = torch.sigmoid(y) if self.cfg.output == "sigmoid" else self.mean + (150.0 / 255.0) * torch.tanh(y)
        return y[:, :, :h, :w]

    def net_params(self):
        return list(self.convs.parameters())

    def style_params(self):
        return list(self.scale.parameters()) + list(self.bias.parameters())


class TorchTransformTrainer(PerceptualTrainer):
    """`TransformTask.train_step` in PyTorch (net and every style train; per-image styles round-robin).

    `cfg` a `TransformTrainConfig` (model, loss, learning_rate), `params` the Flax params
    {"net", "styles"}, `names` the task's `style_names` (their order defines the style ids), `grams`
    the JAX task's Gram targets {layer: (K, C, C)} (numpy).
    """

    def __init__(self, cfg, params: dict, names: Sequence[str], vgg_weights, grams: dict):
        self.model = TorchTransformNet(cfg.model, params, names)
        self.grad_groups = {"net": self.model.net_params(), "styles": self.model.style_params()}
        self._setup(vgg_weights, cfg.loss, grams, len(names), cfg.learning_rate)


__all__ = ["TorchTransformNet", "TorchTransformTrainer"]
