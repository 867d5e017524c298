"""Inference programs: the `styljax` command line and (later) the HTTP service."""
