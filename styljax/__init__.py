"""styljax: neural style transfer in JAX/Flax.

Layers: pure library code here (no printing, no global state), programs in `train/` and
`infer/`, trained artefacts in `checkpoints/`.
"""

__version__ = "0.1.0"
