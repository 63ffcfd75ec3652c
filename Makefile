# Two entry points for a fresh machine with Python 3.10+, pip and make:
#   make demo   runs DIA's main job on the embedded SQLite store
#   make test   runs the whole test suite (lint, types, tests on SQLite and PostgreSQL, doctests),
#               then the core suite on every Python 3.10-3.13 found (nox -s core)
# Each creates or reuses .venv and installs what it needs itself.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# A CPU build of torch: an unpinned torch from PyPI pulls several GB of CUDA packages.
TORCH  ?= torch==2.13.0

.PHONY: demo test lint typecheck docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-all: $(BIN)/python pyproject.toml setup.py
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[all]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-all
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

demo: $(VENV)/.installed-all
	$(BIN)/dia demo $(DEMO_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check dia integrations dashboard tests benchmarks examples docs noxfile.py setup.py

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# The documentation site (MkDocs, Material theme) into site/; --strict fails on any warning.
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

test: $(VENV)/.installed-dev
	bash tests/support/system-deps.sh
	$(MAKE) --no-print-directory lint typecheck
	$(MAKE) --no-print-directory docs
	bash tests/support/with-postgres.sh $(BIN)/python -m pytest $(PYTEST_ARGS)
	DIA_DATABASE_URL=sqlite:// HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules dia
	$(BIN)/nox -s core

clean:
	rm -rf $(VENV) .nox build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
