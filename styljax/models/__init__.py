"""Feed-forward stylisation networks.

- `styljax.models.layers`: shared blocks (reflection-padded conv, instance norm, upsample + conv).
- `styljax.models.stylebank`: StyleBank (Chen et al., CVPR 2017): encoder, per-style banks, decoder,
  style fusion.

Submodules are imported explicitly (``from styljax.models import stylebank``); nothing is loaded here.
"""
