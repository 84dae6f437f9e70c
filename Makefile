# The README and .ci/run call these targets verbatim.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/aggregator demo

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check aggregator tests
	$(BIN)/ruff format --check aggregator tests

typecheck: $(STAMP)
	$(BIN)/mypy --strict aggregator

unit: $(STAMP)
	$(BIN)/pytest

clean:
	rm -rf $(VENV) output/* data/*.sqlite* .pytest_cache .mypy_cache .ruff_cache
