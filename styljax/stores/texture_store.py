"""A texture-network model on disk: the transform-net layout (`styljax.stores.transform_store`:
net.npz + one γ/β file per style) with its own format and architecture config."""

from __future__ import annotations

import dataclasses

from styljax.nets.texture_net import TextureNetConfig
from styljax.stores import transform_store

FORMAT = "styljax-texture-net/1"

STORE = dataclasses.replace(
    transform_store.STORE, format=FORMAT, style_format="styljax-texture-net-style/1", config_cls=TextureNetConfig,
    what="a texture-network model",
)
