# README's two commands: `make demo` and `make test`. Each creates or refreshes .venv itself.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo test bench clean

# torch==2.13.0 goes in first and explicitly: on these machines it is a local CPU build,
# while letting pip resolve a bare "torch" would pull gigabytes of CUDA packages.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(VENV)/bin/aetrack demo

test: venv
	$(PY) -m pytest -q

bench: venv
	$(VENV)/bin/aetrack benchmark-suite --out bench_out

clean:
	rm -rf $(VENV) build *.egg-info
