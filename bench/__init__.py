"""Benchmarks for styljax (run as modules, e.g. `python -m bench.vgg`). Not part of the package."""
