# README's two commands: `make demo` and `make test`. Each creates or refreshes .venv itself.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
AET    := $(VENV)/bin/aetrack
STAMP  := $(VENV)/.installed

.PHONY: venv demo test bench weights soak clean

# torch==2.13.0 goes in first and explicitly: on these machines it is a local CPU build,
# while letting pip resolve a bare "torch" would pull gigabytes of CUDA packages.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(AET) demo

test: venv
	$(PY) -m pytest -q

# The embedded default weights: train configs/synth_small.yaml (2 CPU cores, ~25 min), then
# keep an inference-only copy in the package.
weights: venv
	$(AET) train --config configs/synth_small.yaml --overwrite
	$(AET) export runs/synth_small/last.pt aetrack/weights/synth_small.pt --inference-config configs/synth_small.yaml

# Benchmarks recorded in BENCHMARKS.md (each section there names its own command too).
bench: venv
	$(AET) synth bench_data --sequences 4 --seed 1000 --difficulty medium --overwrite
	$(AET) benchmark bench_data --out bench_out/synth-medium --linker tags_motion --linker tags --linker motion --linker iou
	$(AET) benchmark ../shared/data/MOT17-train --dets --linker iou --linker motion --out bench_out/mot17 --no-speed

# Resident memory over a 20,000-frame stream with the embedded weights.
soak: venv
	$(PY) -m aetrack.bench.soak --frames 20000

clean:
	rm -rf $(VENV) build *.egg-info
