# Newcomer entry points (see README): `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup weights browser demo test test-slow bench gallery clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

setup: $(STAMP) weights

# The tests also cover the optional Ray engine (`styljax.runtime.ray`), so they install its extra.
RAY_STAMP := $(VENV)/.ray-installed
$(RAY_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[ray]'
	touch $@

weights: $(STAMP)
	$(BIN)/styljax weights fetch

demo: setup
	$(BIN)/styljax demo --out-dir out/demo

# Debian's chromium for the web page's end-to-end test (Playwright drives it; no browser download)
browser:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium (browser test)"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: setup browser $(RAY_STAMP)
	$(BIN)/python -m pytest -q -n 2 --durations=15 -m "not slow"

# The tests marked slow (minutes each); CI runs them as its second step. The ONNX export tests need
# the converter's own environment (`styljax export --setup`: jax2onnx pins an older orbax). The TFLite
# ones need the optional `tflite` extra (`pip install -e '.[tflite]'`: tensorflow-cpu, ai-edge-litert)
# and skip without it.
test-slow: setup $(RAY_STAMP)
	$(BIN)/styljax export --setup
	$(BIN)/python -m pytest -q -n 2 --durations=5 -m slow

bench: setup
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python -m bench.vgg > bench/results/vgg.jsonl
	$(BIN)/python -m bench.gatys --sizes 256,512 --ref-steps 40 --max-steps 120 > bench/results/gatys.jsonl
	$(BIN)/python -m bench.stylebank > bench/results/stylebank.jsonl
	$(BIN)/python -m bench.stylebank_quality --gatys-steps 30 > bench/results/stylebank_quality.jsonl
	$(BIN)/python -m bench.coherent_video > bench/results/video.jsonl
	$(BIN)/python -m bench.baselines --gatys-cache out/gatys_cache > bench/results/baselines.jsonl
	$(BIN)/python -m bench.photo > bench/results/photo.jsonl
	$(BIN)/python -m bench.quality --gatys-cache out/gatys_cache_quality > bench/results/quality.jsonl
	$(BIN)/python -m bench.serve_load > bench/results/serve_load.jsonl

# The README's pictures of the feed-forward models (rerun whenever a shipped model changes): the
# held-out table and its gallery (the peer installed as a bench extra), the feed-forward tiles, the
# StyleBank demo sheet and the video gif. Needs ../shared/data.
gallery: setup
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python -m bench.quality --gatys-cache out/gatys_cache_quality --gatys-photos 1 --out-dir out/quality \
	  --gallery docs/quality_gallery.jpg --gallery-rows 6 > bench/results/quality.jsonl
	$(BIN)/python docs/feedforward_gallery.py
	$(BIN)/styljax demo --size 288 --out-dir out/demo_gallery && cp out/demo_gallery/stylebank_contact_sheet.jpg docs/stylebank_demo.jpg
	$(BIN)/styljax video ../shared/data/video/sipi-6.2 --style starry-night --out docs/video_sipi.gif \
	  --side-by-side --size 128 --fps 6 --max-frames 14

clean:
	rm -rf $(VENV) out .pytest_cache
