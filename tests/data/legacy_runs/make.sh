#!/bin/bash
# Run dirs written by the code before issue #32 (commit fbcbdcd), for tests/test_legacy_runs.py.
set -e
cd /work/main
T=/work/legacy/out; rm -rf $T; mkdir -p $T
.venv/bin/python - <<PY
import numpy as np, jax
from styljax import image, weights, vgg
rng = np.random.default_rng(0)
for i in range(3):
    image.save_image("$T/content/photo%d.png" % i, np.kron(rng.uniform(size=(6, 8, 3)), np.ones((8, 8, 1))))
for name in ("red", "blue"):
    image.save_image("$T/styles/%s.png" % name, rng.uniform(size=(24, 24, 3)))
weights.save_npz(vgg.random_weights(16, jax.random.key(0)), "$T/vgg.npz")
PY
S=.venv/bin/styljax
$S train stylebank --config tiny --steps 3 --styles $T/styles --content-dir $T/content --out $T/sb --weights $T/vgg.npz --quiet
$S train cin --config tiny --steps 3 --styles $T/styles --content-dir $T/content --out $T/cin --weights $T/vgg.npz --quiet
$S train video --config video-tiny --steps 2 --model $T/sb --style red --content-dir $T/content --out $T/net1 --quiet
du -sh $T/*.run/ckpt $T/sb
