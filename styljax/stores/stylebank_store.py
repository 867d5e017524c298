"""A StyleBank model on disk (`styljax.stores.style_store` layout): the auto-encoder plus one bank per style.

    MODEL/manifest.json        format, architecture config, loss-network facts, provenance
    MODEL/autoencoder.npz      {"encoder", "decoder"}
    MODEL/banks/<style>.npz    one bank, with the auto-encoder's sha256 in its meta
"""

from __future__ import annotations

from styljax.nets.stylebank import StyleBankConfig
from styljax.stores.style_store import StyleStore, check_style_name, read_manifest

FORMAT = "styljax-stylebank/1"
BANK_FORMAT = "styljax-stylebank-bank/1"

STORE = StyleStore(
    format=FORMAT, style_format=BANK_FORMAT, body_file="autoencoder.npz", body_keys=("encoder", "decoder"),
    styles_key="banks", sha_key="autoencoder_sha256", config_cls=StyleBankConfig, what="a StyleBank model", body_name="auto-encoder",
)

save_model = STORE.save_model
load_model = STORE.load_model
list_styles = STORE.list_styles
export_bank = STORE.export_style
import_bank = STORE.import_style
rename_style = STORE.rename_style
remove_style = STORE.remove_style
config_from_dict = STORE.config_from_dict

__all__ = [
    "BANK_FORMAT", "FORMAT", "STORE", "check_style_name", "config_from_dict", "export_bank", "import_bank",
    "list_styles", "load_model", "read_manifest", "remove_style", "rename_style", "save_model",
]
