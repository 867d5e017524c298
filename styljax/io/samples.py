"""Sample photos that ship inside scikit-image (no download): the demo's content and style, and
the content `styljax train` uses when given no folder."""

from __future__ import annotations


def skimage_image(name: str):
    """A colour scikit-image sample as float RGB [0, 1] (no download: the files are in the wheel)."""
    import numpy as np

    from styljax.errors import StyljaxError

    try:
        import skimage.data
    except ImportError:
        raise StyljaxError("the demo needs scikit-image: pip install 'styljax[dev]'") from None
    loader = getattr(skimage.data, name, None)
    if loader is None:
        raise StyljaxError(f"scikit-image has no sample image {name!r}")
    img = np.asarray(loader())
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return img[..., :3].astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)
