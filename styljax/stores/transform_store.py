"""A transform-net model (CIN or Johnson) on disk (`styljax.stores.style_store` layout).

    MODEL/manifest.json          format, architecture config ("method": "cin" | "johnson"), provenance
    MODEL/net.npz                {"net": the convolutions}
    MODEL/styles/<style>.npz     one style's γ/β for every norm, with net.npz's sha256 in its meta
"""

from __future__ import annotations

from styljax.nets.strength import IDENTITY_STYLE
from styljax.stores.style_store import StyleStore
from styljax.nets.transform import TransformConfig

FORMAT = "styljax-transform/1"
STYLE_FORMAT = "styljax-transform-style/1"

STORE = StyleStore(
    format=FORMAT, style_format=STYLE_FORMAT, body_file="net.npz", body_keys=("net",),
    styles_key="styles", sha_key="net_sha256", config_cls=TransformConfig, what="a transform-net (CIN/Johnson) model", body_name="transform net",
    reserved=(IDENTITY_STYLE,),  # the strength-0 target (`styljax.nets.strength`), not a style to pick
)

save_model = STORE.save_model
load_model = STORE.load_model
list_styles = STORE.list_styles
