"""XLA:CPU compiler options chosen per kind of program.

By default XLA:CPU hands convolutions and matmuls to YNNPACK as fused subgraphs that take in the
element-wise ops around them. A forward pass gains from that. A perceptual-loss training step
(a net, then VGG forward and backward) loses: each fused conv gets its bias and ReLU operands as
materialised full-size broadcasts, and the loss network's pass over the content images (no
gradient, so nothing else reads its activations) becomes one subgraph that runs well below the
matmul rate. With the fusions off, the perceptual-loss training steps run faster and forward-heavy
work (a StyleBank forward pass, the Net₁ training step, which runs the frozen StyleBank on every
frame) runs slower: BENCHMARKS.md ("Perceptual-loss training compiles without YNNPACK fusions") has
the figures. So the
perceptual-loss trainers (`styljax train` of StyleBank, CIN, Johnson and the texture nets,
`styljax add-style`) turn the fusions off (`PERCEPTUAL_TRAINING`) and every other program keeps
XLA's defaults.

The options are read when JAX creates its CPU backend, at the first computation of the process,
so `use` has to run before that; it never overrides an option the user already set in $XLA_FLAGS.
On other backends the options are accepted and ignored.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

PERCEPTUAL_TRAINING = ("--xla_cpu_experimental_ynn_fusion_type=",)


def use(flags: Sequence[str]) -> list[str]:
    """Append each of `flags` ("--name=value") to $XLA_FLAGS unless an option of that name is there.

    Args:
      flags: XLA options, e.g. `PERCEPTUAL_TRAINING`.

    Returns:
      The options added (the ones the user had not set).
    """
    current = os.environ.get("XLA_FLAGS", "").split()
    names = {f.split("=", 1)[0] for f in current}
    added = [f for f in flags if f.split("=", 1)[0] not in names]
    if added:
        os.environ["XLA_FLAGS"] = " ".join(current + added)
    return added
