# Two entry points (see README): `make demo` trains on the embedded digits data,
# `make test` runs the whole test suite. Both create .venv and install first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU machines this project is developed on carry this exact torch release;
# on a machine with CUDA the same pin from PyPI is the CUDA build.
TORCH_SPEC ?= torch==2.13.0
# Two workers: CI has 2 cores (tests/conftest.py gives each worker one torch thread).
PYTEST_ARGS ?= -n 2

.PHONY: setup demo test bench clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "netcoach needs Python >= 3.11 (tomllib); set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e '.[dev,export,tracking]'
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/netcoach train

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
