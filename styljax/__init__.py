"""styljax: neural style transfer in JAX/Flax.

Layers: pure library code here (no printing, no global state), grouped by concern (`nets`,
`renderers`, `stores`, `tasks`, `losses`, `optimization`, `imaging`, `video`, `io`, `runtime`,
`evaluation`) around three interfaces: `methods` (the registry), `render` (what a trained model
answers) and `training` (the loop and the step). Programs live in `train/` and `infer/` (installed
as `styljax.train` and `styljax.infer`); they import the library, never the other way round.
Trained artefacts are in `checkpoints/` (`styljax.io.checkpoints` finds them).
"""

__version__ = "0.1.0"
