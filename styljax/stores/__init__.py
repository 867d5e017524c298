"""Trained multi-style models on disk: one shared-body file plus one small file per style."""
