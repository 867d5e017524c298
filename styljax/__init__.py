"""styljax: neural style transfer in JAX/Flax.

Layers: pure library code here (no printing, no global state), programs in `train/` and
`infer/` (installed as `styljax.train` and `styljax.infer`), trained artefacts in `checkpoints/`
(`styljax.checkpoints` finds them).
"""

__version__ = "0.1.0"


def _map_checkout_programs() -> None:
    """In a source checkout `train/` and `infer/` sit beside `styljax/`; an install maps them to
    `styljax.train` and `styljax.infer` (pyproject's package-dir). Map them here too, so that a
    checkout runs uninstalled and always imports its own copies, not those of another tree's
    editable install. Does nothing in an installed package (no pyproject.toml beside it)."""
    import importlib.abc
    import importlib.util
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    dirs = {f"{__name__}.{sub}": root / sub for sub in ("train", "infer")}
    if not (root / "pyproject.toml").is_file() or not all((d / "__init__.py").is_file() for d in dirs.values()):
        return

    class CheckoutPrograms(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            folder = dirs.get(name)
            if folder is None:
                return None
            return importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                          submodule_search_locations=[str(folder)])

    sys.meta_path.insert(0, CheckoutPrograms())


_map_checkout_programs()
