"""Trained models behind the rendering interface (`styljax.render.Renderer`), one per model kind."""
