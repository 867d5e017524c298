"""The arbitrary-style model on disk (`styljax.stores.style_store` layout; written by `styljax.io.magenta`).

    MODEL/manifest.json          format, `ArbitraryConfig`, "method": "arbitrary", source and licence
    MODEL/net.npz                {"predictor", "transformer", "style_maps"}: Magenta's weights
    MODEL/NOTICE                 licence and attribution
    MODEL/styles/<style>.npz     {"vector": (100,)}: a painting's predicted style vector (`add-style`)
"""

from __future__ import annotations

from styljax.nets.arbitrary import ArbitraryConfig
from styljax.stores.style_store import StyleStore

FORMAT = "styljax-arbitrary/1"
STYLE_FORMAT = "styljax-arbitrary-style/1"

STORE = StyleStore(
    format=FORMAT, style_format=STYLE_FORMAT, body_file="net.npz",
    body_keys=("predictor", "transformer", "style_maps"), styles_key="styles", sha_key="net_sha256",
    config_cls=ArbitraryConfig, what="an arbitrary-style model", body_name="style predictor and transformer",
)
