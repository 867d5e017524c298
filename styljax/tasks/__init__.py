"""Training tasks: one per feed-forward method, all run by `styljax.training.train`."""
