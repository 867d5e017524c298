"""PyTorch pieces shared by the training-step twins (`bench/torch_stylebank.py`,
`bench/torch_transform.py`): weight copies from Flax trees, reflect-padded convs, instance norm,
nearest ×2 upsampling, the VGG loss network, the perceptual loss (content + Gram style + TV, as
`styljax.losses.perceptual.perceptual_loss` with `styljax.losses.feature_losses`) and a trainer base class with
the round-robin style ids and one Adam over all trainable params.

Everything is NCHW float32. The maths mirror the JAX side exactly; only float rounding differs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def to_tensor(a) -> torch.Tensor:
    return torch.from_numpy(np.array(a, np.float32))  # writable copy


def copy_conv(conv: nn.Conv2d, p: Mapping) -> None:
    """Flax conv params {"kernel" HWIO[, "bias"]} into a torch conv (OIHW)."""
    with torch.no_grad():
        conv.weight.copy_(to_tensor(p["kernel"]).permute(3, 2, 0, 1).contiguous())
        if conv.bias is not None:
            conv.bias.copy_(to_tensor(p["bias"]))


def copy_norm(norm: nn.InstanceNorm2d, p: Mapping) -> None:
    """Flax norm params {"scale", "bias"} into an affine torch InstanceNorm2d."""
    with torch.no_grad():
        norm.weight.copy_(to_tensor(p["scale"]))
        norm.bias.copy_(to_tensor(p["bias"]))


def reflect_conv(cin: int, cout: int, k: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    """= `styljax.nets.layers.ReflectConv`: reflect-pad k//2, k×k conv, output ceil(n/stride)."""
    return nn.Conv2d(cin, cout, k, stride, padding=k // 2, padding_mode="reflect", bias=bias)


def instance_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(x − μ) / sqrt(σ² + eps) per image and channel (biased σ²) = `styljax...layers.instance_norm`."""
    return F.instance_norm(x, eps=eps)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour ×2 (each pixel a 2×2 block) = `styljax...layers.upsample_nearest_2x`."""
    return F.interpolate(x, scale_factor=2, mode="nearest")


def pad_to_multiple(x: torch.Tensor, multiple: int = 4) -> torch.Tensor:
    """Reflect-pad bottom/right so H, W are multiples of `multiple` (= `stylebank.pad_to_multiple`)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return x if ph == 0 and pw == 0 else F.pad(x, (0, pw, 0, ph), mode="reflect")


class TorchVGG(nn.Module):
    """VGG trunk up to the deepest of `layers`; returns {relu name: activation} (NCHW).

    Convs 3×3 pad 1 + ReLU, MaxPool2d(2) (floor, like the JAX VALID pool) between blocks, weights
    copied from the JAX VGG params, frozen; the weights' input convention applied inside."""

    def __init__(self, vgg_params: dict, depth: int, convention, layers: Sequence[str]):
        super().__init__()
        from styljax.nets.vgg import CHANNELS, CONVS_PER_BLOCK, relu_names

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
                copy_conv(conv, vgg_params[name])
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


GRAM_NORMS = ("chw", "hw", "gatys")


def gram(f: torch.Tensor, norm: str = "chw") -> torch.Tensor:
    """(B, C, C) Grams of NCHW features, normalised as `styljax.losses.feature_losses.gram`."""
    b, c, h, w = f.shape
    x = f.reshape(b, c, h * w)
    g = torch.bmm(x, x.transpose(1, 2))
    if norm == "chw":
        return g / (c * h * w)
    if norm == "hw":
        return g / (h * w)
    return g


def gram_distance(g: torch.Tensor, a: torch.Tensor, norm: str, count: int) -> torch.Tensor:
    """Per-image layer style loss (B,) = `styljax.losses.feature_losses.gram_distance`."""
    d2 = (g - a).square()
    if norm == "gatys":
        c = g.shape[-1]
        return d2.sum(dim=(-1, -2)) / (4.0 * c**2 * float(count) ** 2)
    return d2.mean(dim=(-1, -2))


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Mean squared vertical + horizontal neighbour differences, batch mean (= `losses.tv_loss`)."""
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).square().mean(dim=(1, 2, 3))
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).square().mean(dim=(1, 2, 3))
    return (dx + dy).mean()


def perceptual_loss(vgg: TorchVGG, loss, grams: Mapping[str, torch.Tensor], out: torch.Tensor,
                    x: torch.Tensor, ids: Sequence[int]) -> tuple[torch.Tensor, dict]:
    """(total, {"content", "style", "tv"}) = `styljax.losses.perceptual.perceptual_loss`.

    `loss` is a `PerceptualLoss`; `grams` the JAX task's Gram targets {layer: (K, C, C)}. As on the
    JAX side, the content images go through VGG in a pass of their own without autograd (so the
    backward pass runs over the stylized half only)."""
    if loss.gram_norm not in GRAM_NORMS:
        raise ValueError(f"gram norm must be one of {GRAM_NORMS}, got {loss.gram_norm!r}")
    f_out = vgg(out)
    with torch.no_grad():
        f_in = vgg(x)
    idx = torch.as_tensor(list(ids), dtype=torch.long)
    content = sum(w * (f_out[l] - f_in[l]).square().mean() for l, w in loss.content_layers)
    style = 0.0
    for l, w in loss.style_layers:
        f = f_out[l]
        d = gram_distance(gram(f, loss.gram_norm), grams[l][idx], loss.gram_norm, f.shape[2] * f.shape[3])
        style = style + w * d.mean()
    parts = {
        "content": loss.content_weight * content,
        "style": loss.style_weight * style,
        "tv": loss.tv_weight * tv_loss(out),
    }
    return parts["content"] + parts["style"] + parts["tv"], parts


def grad_norm(params) -> float:
    """Global L2 norm of the gradients of `params` (absent gradients count as zero)."""
    sq = [p.grad.double().square().sum() for p in params if p.grad is not None]
    return float(torch.sqrt(sum(sq))) if sq else 0.0


class PerceptualTrainer:
    """One training step of a feed-forward net on the perceptual loss, PyTorch side.

    Subclasses set `self.model` (a module whose parameters all train; `model(x, ids)` renders NCHW
    images `x` with per-image style ids) and `self.grad_groups` ({name: [params]}, the groups whose
    gradient norms are reported), then call `_setup`. Style ids are round-robin, image j of step s
    gets (s·B + j) mod K (= `styljax.losses.perceptual.round_robin_styles` over all styles). One
    `torch.optim.Adam` (optax.adam defaults: betas 0.9/0.999, eps 1e-8) at a constant `lr`: the
    JAX schedule's staircase decay does not move before its first `decay_every` steps.
    """

    model: nn.Module
    grad_groups: dict

    def _setup(self, vgg_weights, loss, grams: Mapping, n_styles: int, lr: float) -> None:
        self.vgg = TorchVGG(vgg_weights.params, vgg_weights.depth, vgg_weights.convention, loss.layers).eval()
        self.loss = loss
        self.k = n_styles
        self.grams = {l: to_tensor(g) for l, g in grams.items()}
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
        self.step_count = 0
        self.last_parts: dict = {}
        self.last_grad_norms: dict = {}

    def ids(self, step: int, b: int) -> list[int]:
        return [(step * b + j) % self.k for j in range(b)]

    def compute_loss(self, x: torch.Tensor, ids: Sequence[int]):
        out = self.model(x, ids)
        return perceptual_loss(self.vgg, self.loss, self.grams, out, x, ids)

    def after_backward(self) -> None:
        """Hook between backward and the optimizer step (gradients are in place)."""

    def step(self, x: torch.Tensor) -> float:
        """One step on NCHW images x; returns the loss (before the update)."""
        ids = self.ids(self.step_count, x.shape[0])
        self.opt.zero_grad(set_to_none=True)
        loss, parts = self.compute_loss(x, ids)
        self.last_parts = {k: float(v.detach()) for k, v in parts.items()}
        loss.backward()
        self.after_backward()
        self.opt.step()
        self.step_count += 1
        return float(loss.detach())

    def grad_norms(self) -> dict:
        """{group: global L2 norm of its gradient} plus "all", from the gradients in place."""
        out = {k: grad_norm(ps) for k, ps in self.grad_groups.items()}
        out["all"] = float(np.sqrt(sum(v * v for v in out.values())))
        return out
