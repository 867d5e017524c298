"""`styljax add-style --method arbitrary --refine`: the painting's 100-d style vector optimised
alone (the predictor and the transformer frozen) against the perceptual objective the project's
feed-forward models train on (`styljax.losses.perceptual`: Gram style loss to the painting, content
loss to the photos, TV), over a few photos at a small size, with L-BFGS in one compiled loop
(`styljax.optimization.optimize.lbfgs_minimize`). The predictor's vector is the start, so the result is a style
the transformer renders closer to the painting's Gram statistics than the one-shot prediction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from styljax.nets import arbitrary as ar


def refine_vector(params: Mapping, cfg: ar.ArbitraryConfig, vector, photos: Sequence[np.ndarray],
                  painting: np.ndarray, vgg, loss=None, steps: int = 30) -> tuple[np.ndarray, dict]:
    """(refined vector (D,), {"loss_before", "loss_after", "steps"}).

    Args:
      params: the model's params (predictor, transformer, style maps).
      cfg: its `ArbitraryConfig`.
      vector: the start, (D,) (the predictor's vector of `painting`).
      photos: content photos (H, W, 3), all the same size.
      painting: the style image (H, W, 3).
      vgg: the loss network (`styljax.nets.vgg.VggWeights`).
      loss: a `styljax.losses.perceptual.PerceptualLoss` (default: its defaults).
      steps: L-BFGS iterations at most.
    """
    from styljax.optimization import optimize
    from styljax.losses.perceptual import PerceptualLoss, perceptual_loss, style_targets

    loss = loss or PerceptualLoss()
    consts = style_targets(vgg, loss, {"painting": np.asarray(painting, np.float32)})
    extract = vgg.extractor(loss.layers)
    x = jnp.asarray(np.stack(photos), jnp.float32)
    ids = jnp.zeros((x.shape[0],), jnp.int32)

    @jax.jit
    def run(params, v0, consts, x):
        def objective(v):
            out = ar.transform(params, x, v, cfg)
            return perceptual_loss(extract, loss, consts, out, x, ids)[0]

        v, value, count = optimize.lbfgs_minimize(objective, v0, max_iters=steps)
        return v, objective(v0), value, count

    v0 = jnp.asarray(vector, jnp.float32)
    v, before, after, count = run(params, v0, consts, x)
    return np.asarray(v), {"loss_before": float(before), "loss_after": float(after), "steps": int(count)}
