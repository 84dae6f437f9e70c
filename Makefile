# The README and .ci/run call these targets verbatim.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/aggregator demo

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check aggregator tests benchmarks
	$(BIN)/ruff format --check aggregator tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict aggregator

unit: $(STAMP)
	$(BIN)/pytest

# Not part of `make test`: the fetch benchmark needs reader and takes about 11 minutes.
# Pass options with BENCH_ARGS, e.g. make bench BENCH_ARGS="--sources 200 --latency 200".
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.fetch_bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) output/* data/*.sqlite* .pytest_cache .mypy_cache .ruff_cache
