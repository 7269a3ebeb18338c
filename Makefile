# dataops-gym — the two commands a new user types: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RAY_STAMP := $(VENV)/.installed-ray

.PHONY: run test lint typecheck format bench figures install clean

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

# The lab's main job: train the triage agent on SC-0002 (short budget, tracked in MLflow),
# compare it on held-out seeds with the rules and static organizations, export it to ONNX,
# and run the organization with the exported policy in its triage slot.
RUN_DIR := outputs/main/$(shell date +%Y-%m-%d_%H-%M-%S)
run: $(STAMP)
	$(PY) -m experiments.train experiment=quickstart hydra.run.dir=$(RUN_DIR)/train
	$(PY) -m experiments.run_org scenario=sc0002 org=rules triage=onnx:$(RUN_DIR)/train/policy \
		episodes=10 split=eval hydra.run.dir=$(RUN_DIR)/org_with_policy
	@echo "runs: $(RUN_DIR)   browse them: $(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1"

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/jupytext --sync notebooks/*.ipynb

# The environments' spec sheets (class docstrings) carry doctest examples, run on envs/ alone:
# --doctest-modules on notebooks/ would import (and so run) the notebooks' paired .py files.
test: $(RAY_STAMP) lint typecheck
	$(PY) -m pytest -n 2 --nbmake tests notebooks
	$(PY) -m pytest --doctest-modules envs

bench: $(STAMP)
	$(PY) -m experiments.bench part=all

# The pictures embedded in README.md (docs/figures/*.png), drawn deterministically; the learning
# curve is read from the committed run log docs/figures/learning_curve_run/ (nothing is trained).
figures: $(STAMP)
	$(PY) -m experiments.figures

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache .mypy_cache .ruff_cache .hypothesis
