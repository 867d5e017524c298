"""Files: images, atomic writes, weights, stores, checkpoints, training data, exported artefacts."""
