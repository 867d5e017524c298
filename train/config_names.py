"""The experiment names of `train.configs`, for the training verbs' `--help`: importable without
JAX or Flax (`train.configs` builds model configs, which imports them). A test checks that these
match the tables in `train.configs`."""

STYLEBANK = ("kodak", "kodak-wiki", "kodak-wiki-render", "paper", "add-style", "tiny")
CIN = ("kodak", "kodak-wiki-render", "add-style", "tiny")
JOHNSON = ("kodak", "tiny")
VIDEO = ("video", "video-tiny")
