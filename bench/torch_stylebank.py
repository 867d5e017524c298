"""PyTorch mirror of the styljax StyleBank network, its VGG-16 loss network and its stylising-branch
training step — for `bench.stylebank`'s train_step comparison (same maths, same weights, same threads).

Network (NCHW, float32), built from a styljax `StyleBankConfig` and initialised by copying the Flax
params (conv kernels HWIO -> OIHW, InstanceNorm scale/bias -> weight/bias):

  encoder  conv9x9 s1 -> 3x3 s2 -> 3x3 s2 [-> 3x3 s1 ...], each reflection-padded
           (`Conv2d(padding_mode="reflect")`, no bias) + InstanceNorm2d(affine) + ReLU
  bank     `bank_layers` x reflect conv kxk C->C with bias (default: one 3x3 128->128, linear);
           with `bank_norm_relu` each is conv (no bias) + IN + ReLU
  decoder  mirror: [nearest x2 if the encoder layer had stride 2] + reflect conv 3x3 + IN + ReLU,
           then reflect conv 9x9 -> 3 with bias (linear or sigmoid output, as `cfg.output`)

Loss network: VGG-16 convs 3x3 pad 1 + ReLU, MaxPool2d(2) between blocks, up to the deepest layer
needed; weights copied from the JAX VGG params; caffe preprocessing inside
(RGB [0, 1] -> BGR * 255 - mean, the weights' `InputConvention`).

Losses (= `styljax.tasks.stylebank.StyleBankTask.stylise_loss` with `styljax.losses`):
  content  Σ_l w_l · mean((F_l(O) − F_l(I))²)                    (F_l(I) detached)
  style    Σ_l w_l · mean_b mean_{C²} (G_l(O_b) − A_l[id_b])²    G = FᵀF / (C·H·W)  ("chw")
  tv       mean_b [mean (dy)² + mean (dx)²]
  total    α content + β style + γ tv
One `torch.optim.Adam` over all StyleBank params (optax.adam defaults: betas 0.9/0.999, eps 1e-8),
VGG frozen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _t(a) -> torch.Tensor:
    return torch.from_numpy(np.array(a, np.float32))  # writable copy


def _copy_conv(conv: nn.Conv2d, p: dict) -> None:
    with torch.no_grad():
        conv.weight.copy_(_t(p["kernel"]).permute(3, 2, 0, 1).contiguous())  # HWIO -> OIHW
        if conv.bias is not None:
            conv.bias.copy_(_t(p["bias"]))


def _copy_norm(norm: nn.InstanceNorm2d, p: dict) -> None:
    with torch.no_grad():
        norm.weight.copy_(_t(p["scale"]))
        norm.bias.copy_(_t(p["bias"]))


def reflect_conv(cin: int, cout: int, k: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, padding=k // 2, padding_mode="reflect", bias=bias)


class ConvINReLU(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, upsample: bool = False):
        super().__init__()
        self.upsample = upsample
        self.conv = reflect_conv(cin, cout, k, stride, bias=False)
        self.norm = nn.InstanceNorm2d(cout, affine=True, eps=1e-5)

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return F.relu(self.norm(self.conv(x)))

    def load(self, p: dict) -> None:
        _copy_conv(self.conv, p["conv"])
        _copy_norm(self.norm, p["norm"])


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
            layer.load(q) if self.norm_relu else _copy_conv(layer, q)


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
        _copy_conv(self.out, params["decoder"][f"conv{len(dec) + 1}"])
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
        """Per-image styles: image j goes through bank ids[j]. x (B, 3, H, W), H, W multiples of 4."""
        f = self.encode(x)
        g = torch.cat([self.banks[int(i)](f[j : j + 1]) for j, i in enumerate(ids)])
        return self.decode(g)

    def autoencoder_params(self):
        return [p for n, p in self.named_parameters() if not n.startswith("banks.")]


class TorchVGG(nn.Module):
    """VGG trunk up to the deepest of `layers`; returns {relu name: activation} (NCHW)."""

    def __init__(self, vgg_params: dict, depth: int, convention, layers: Sequence[str]):
        super().__init__()
        from styljax.vgg import CHANNELS, CONVS_PER_BLOCK, relu_names

        names = relu_names(depth)
        self.wanted = set(layers)
        deepest = max(names.index(n) for n in layers)
        self.plan: list[tuple[bool, str]] = []  # (pool before, relu name)
        convs, cin, i = [], 3, 0
        for block, n in enumerate(CONVS_PER_BLOCK[depth]):
            for c in range(n):
                if i > deepest:
                    break
                name = f"conv{block + 1}_{c + 1}"
                conv = nn.Conv2d(cin, CHANNELS[block], 3, padding=1)
                _copy_conv(conv, vgg_params[name])
                convs.append(conv)
                self.plan.append((block > 0 and c == 0, name.replace("conv", "relu")))
                cin = CHANNELS[block]
                i += 1
        self.convs = nn.ModuleList(convs)
        for p in self.parameters():
            p.requires_grad_(False)
        order = [2, 1, 0] if convention.channel_order == "bgr" else [0, 1, 2]
        self.register_buffer("order", torch.tensor(order), persistent=False)
        for name in ("mean", "std"):
            value = torch.tensor(getattr(convention, name), dtype=torch.float32).view(1, 3, 1, 1)
            self.register_buffer(name, value, persistent=False)
        self.scale = float(convention.scale)

    def forward(self, x):
        x = (x[:, self.order] * self.scale - self.mean) / self.std
        out = {}
        for conv, (pool, relu) in zip(self.convs, self.plan):
            if pool:
                x = F.max_pool2d(x, 2)
            x = F.relu(conv(x))
            if relu in self.wanted:
                out[relu] = x
        return out


def gram_chw(f: torch.Tensor) -> torch.Tensor:
    b, c, h, w = f.shape
    x = f.reshape(b, c, h * w)
    return torch.bmm(x, x.transpose(1, 2)) / (c * h * w)


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).square().mean(dim=(1, 2, 3))
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).square().mean(dim=(1, 2, 3))
    return (dx + dy).mean()


class TorchStyleBankTrainer:
    """Stylising-branch step of `StyleBankTask` in PyTorch (per-image styles round-robin).

    `grams` are the JAX task's Gram targets {layer: (K, C, C)} (numpy), `loss` a `StyleBankLoss`
    (only the "chw" Gram normalisation is mirrored).
    """

    def __init__(self, cfg, params: dict, names: Sequence[str], vgg_weights, loss, grams: dict, lr: float = 1e-3):
        if loss.gram_norm != "chw":
            raise ValueError("the torch mirror implements gram_norm='chw' only")
        self.model = TorchStyleBank(cfg, params, names)
        self.vgg = TorchVGG(vgg_weights.params, vgg_weights.depth, vgg_weights.convention, loss.layers).eval()
        self.loss = loss
        self.k = len(names)
        self.grams = {l: _t(g) for l, g in grams.items()}
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
        self.ae_params = self.model.autoencoder_params()
        self.step_count = 0

    def ids(self, step: int, b: int) -> list[int]:
        return [(step * b + j) % self.k for j in range(b)]

    def stylise_loss(self, x: torch.Tensor, ids: Sequence[int]):
        lc = self.loss
        out = self.model(x, ids)
        feats = self.vgg(torch.cat([out, x]))
        b = x.shape[0]
        idx = torch.tensor(list(ids))
        content = sum(w * (feats[l][:b] - feats[l][b:].detach()).square().mean() for l, w in lc.content_layers)
        style = sum(
            w * (gram_chw(feats[l][:b]) - self.grams[l][idx]).square().mean() for l, w in lc.style_layers
        )
        parts = {
            "content": lc.content_weight * content,
            "style": lc.style_weight * style,
            "tv": lc.tv_weight * tv_loss(out),
        }
        return parts["content"] + parts["style"] + parts["tv"], parts

    def step(self, x: torch.Tensor) -> float:
        """One stylising-branch step on NCHW images x; returns the loss."""
        ids = self.ids(self.step_count, x.shape[0])
        self.opt.zero_grad(set_to_none=True)
        loss, parts = self.stylise_loss(x, ids)
        self.last_parts = {k: float(v.detach()) for k, v in parts.items()}
        loss.backward()
        with torch.no_grad():  # ‖∂L_K‖ over E and D, kept for the auto-encoder step (as the JAX task)
            self.gk_norm = torch.sqrt(sum(p.grad.square().sum() for p in self.ae_params if p.grad is not None))
        self.opt.step()
        self.step_count += 1
        return float(loss.detach())
