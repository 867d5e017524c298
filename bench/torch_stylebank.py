"""PyTorch mirror of the styljax StyleBank network and its stylizing-branch training step — for
`bench.stylebank`'s train_step comparison (same maths, same weights, same threads).

Network (NCHW, float32), built from a styljax `StyleBankConfig` and initialised by copying the Flax
params (conv kernels HWIO -> OIHW, InstanceNorm scale/bias -> weight/bias):

  encoder  conv9x9 s1 -> 3x3 s2 -> 3x3 s2 [-> 3x3 s1 ...], each reflection-padded
           (`Conv2d(padding_mode="reflect")`, no bias) + InstanceNorm2d(affine) + ReLU
  bank     `bank_layers` x reflect conv kxk C->C with bias (default: one 3x3 128->128, linear);
           with `bank_norm_relu` each is conv (no bias) + IN + ReLU
  decoder  mirror: [nearest x2 if the encoder layer had stride 2] + reflect conv 3x3 + IN + ReLU,
           then reflect conv 9x9 -> 3 with bias (linear or sigmoid output, as `cfg.output`)

Images are reflect-padded bottom/right to multiples of 4 and the output cropped back (as the JAX
`encode`/`decode`). Loss network, losses and optimizer: `bench.torch_common` (VGG with the weights'
input convention inside; content + Gram style (per-image targets = the JAX task's) + TV, as
`styljax.losses.perceptual.perceptual_loss`; the content images through VGG in a pass of their own
without autograd; one `torch.optim.Adam` over all StyleBank params, VGG frozen).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bench.torch_common import PerceptualTrainer, copy_conv, copy_norm, pad_to_multiple, reflect_conv, upsample2x


class ConvINReLU(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, upsample: bool = False):
        super().__init__()
        self.upsample = upsample
        self.conv = reflect_conv(cin, cout, k, stride, bias=False)
        self.norm = nn.InstanceNorm2d(cout, affine=True, eps=1e-5)

    def forward(self, x):
        if self.upsample:
            x = upsample2x(x)
        return F.relu(self.norm(self.conv(x)))

    def load(self, p: dict) -> None:
        copy_conv(self.conv, p["conv"])
        copy_norm(self.norm, p["norm"])


def _stride(i: int) -> int:
    return 2 if i in (1, 2) else 1


class Bank(nn.Module):
    def __init__(self, c: int, k: int, layers: int, norm_relu: bool):
        super().__init__()
        self.norm_relu = norm_relu
        self.layers = nn.ModuleList(
            ConvINReLU(c, c, k) if norm_relu else reflect_conv(c, c, k, 1, bias=True) for _ in range(layers)
        )

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def load(self, p: dict) -> None:
        for i, layer in enumerate(self.layers):
            q = p[f"conv{i + 1}"]
            layer.load(q) if self.norm_relu else copy_conv(layer, q)


class TorchStyleBank(nn.Module):
    """E, K_1..K_n, D with the architecture of `cfg` and the weights of the Flax `params`."""

    def __init__(self, cfg, params: dict, names: Sequence[str]):
        super().__init__()
        ch = tuple(cfg.channels)
        self.names = tuple(names)
        self.sigmoid = getattr(cfg, "output", "linear") == "sigmoid"
        enc, cin = [], 3
        for i, c in enumerate(ch):
            enc.append(ConvINReLU(cin, c, 9 if i == 0 else 3, _stride(i)))
            cin = c
        self.encoder = nn.ModuleList(enc)
        dec = []
        for i in range(len(ch) - 1, 0, -1):
            dec.append(ConvINReLU(ch[i], ch[i - 1], 3, 1, upsample=_stride(i) == 2))
        self.decoder = nn.ModuleList(dec)
        self.out = reflect_conv(ch[0], 3, 9, 1, bias=True)
        self.banks = nn.ModuleList(
            Bank(cfg.features, cfg.bank_kernel, cfg.bank_layers, cfg.bank_norm_relu) for _ in self.names
        )
        for i, m in enumerate(self.encoder):
            m.load(params["encoder"][f"conv{i + 1}"])
        for i, m in enumerate(self.decoder):
            m.load(params["decoder"][f"conv{i + 1}"])
        copy_conv(self.out, params["decoder"][f"conv{len(dec) + 1}"])
        for n, m in zip(self.names, self.banks):
            m.load(params["banks"][n])

    def encode(self, x):
        for m in self.encoder:
            x = m(x)
        return x

    def decode(self, f):
        for m in self.decoder:
            f = m(f)
        out = self.out(f)
        return torch.sigmoid(out) if self.sigmoid else out

    def forward(self, x, ids: Sequence[int]):
        """Per-image styles: image j goes through bank ids[j]. x (B, 3, H, W)."""
        h, w = x.shape[-2:]
        f = self.encode(pad_to_multiple(x))
        g = torch.cat([self.banks[int(i)](f[j : j + 1]) for j, i in enumerate(ids)])
        return self.decode(g)[:, :, :h, :w]

    def autoencoder_params(self):
        return [p for n, p in self.named_parameters() if not n.startswith("banks.")]

    def bank_params(self):
        return [p for n, p in self.named_parameters() if n.startswith("banks.")]


class TorchStyleBankTrainer(PerceptualTrainer):
    """Stylizing-branch step of `StyleBankTask` in PyTorch (per-image styles round-robin).

    `grams` are the JAX task's Gram targets {layer: (K, C, C)} (numpy), `loss` a `StyleBankLoss`.
    Every step also computes ‖∂L_K‖ over E and D (`gk_norm`), as the JAX task does for its
    auto-encoder step.
    """

    def __init__(self, cfg, params: dict, names: Sequence[str], vgg_weights, loss, grams: dict, lr: float = 1e-3):
        self.model = TorchStyleBank(cfg, params, names)
        self.ae_params = self.model.autoencoder_params()
        self.grad_groups = {"ae": self.ae_params, "banks": self.model.bank_params()}
        self._setup(vgg_weights, loss, grams, len(names), lr)

    def after_backward(self) -> None:
        with torch.no_grad():  # ‖∂L_K‖ over E and D, kept for the auto-encoder step (as the JAX task)
            self.gk_norm = torch.sqrt(sum(p.grad.square().sum() for p in self.ae_params if p.grad is not None))
