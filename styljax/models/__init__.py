"""Feed-forward stylization networks.

- `styljax.models.layers`: shared blocks (reflection-padded conv, instance norm, upsample + conv).
- `styljax.models.stylebank`: StyleBank (Chen et al., CVPR 2017): encoder, per-style banks, decoder,
  style fusion.
- `styljax.models.transform`: Johnson et al. (ECCV 2016) and conditional instance norm (Dumoulin et
  al., ICLR 2017): one transform net, γ/β per style, interpolation and region mixing.
- `styljax.models.video`: the online video Net₁ (Chen et al., ICCV 2017) on a StyleBank model.
- `styljax.models.style_store`: multi-style models on disk (shared body + one file per style).

Submodules are imported explicitly (``from styljax.models import stylebank``); nothing is loaded here.
"""
