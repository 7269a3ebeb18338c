# dataops-gym — the two commands a new user types: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RAY_STAMP := $(VENV)/.installed-ray

.PHONY: run test lint typecheck format bench install clean

# Create or update the virtual environment. torch is pinned first so that nothing pulls a
# multi-GB CUDA build; everything else comes from pyproject.toml.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The tests also cover the Ray launcher, so `make test` adds the `ray` extra (~300 MB) on top;
# `make install` and `make run` stay without it.
$(RAY_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,ray]"
	touch $(RAY_STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m experiments.simulate scenario=sc0002

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/jupytext --sync notebooks/*.ipynb

test: $(RAY_STAMP) lint typecheck
	$(PY) -m pytest -n 2 --nbmake tests notebooks

bench: $(STAMP)
	$(PY) -m experiments.bench part=all

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache .mypy_cache .ruff_cache .hypothesis
