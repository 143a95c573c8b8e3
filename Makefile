# Everyday commands. `make help` lists them; ARGS passes options through, e.g. make train ARGS="--trainer.max_epochs 3".
PYTHON ?= python
ARGS ?=
# The hooks in .pre-commit-config.yaml call tools by name: put the chosen Python's scripts first on PATH.
BIN := $(dir $(shell $(PYTHON) -c "import sys; print(sys.executable)"))
export PATH := $(BIN):$(PATH)

.PHONY: help install test test-fast lint typecheck train tune

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install:  ## editable install with the dev extra, and the git hook (in a git repository)
	$(PYTHON) -m pip install -e ".[dev]"
	@if git rev-parse --git-dir >/dev/null 2>&1; then $(PYTHON) -m pre_commit install; \
	else echo "not a git repository yet: run 'pre-commit install' after 'git init'"; fi

test:  ## the whole test suite, slow end-to-end tests included (offline, CPU)
	$(PYTHON) -m pytest -m "slow or not slow" $(ARGS)

test-fast:  ## the suite without the tests marked slow (pytest's default here)
	$(PYTHON) -m pytest $(ARGS)

lint:  ## every pre-commit hook on every file (ruff, codespell, YAML/TOML, whitespace, mypy)
	$(PYTHON) -m pre_commit run --all-files

typecheck:  ## mypy on src/ (settings in pyproject.toml)
	$(PYTHON) -m mypy

train:  ## python train.py ARGS
	$(PYTHON) train.py $(ARGS)

# >>> part:tune
tune:  ## python tune.py ARGS (a Ray Tune search)
	$(PYTHON) tune.py $(ARGS)
# <<< part:tune
