# The README and .ci/run call these targets verbatim.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian's Chromium and ChromeDriver for the browser tests and screenshots (we are root
# on CI); apt-get runs only when either is missing, so this is fast once installed.
BROWSER := $(VENV)/.browser

.PHONY: demo test lint typecheck unit browser screenshots bench bench-merge clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(BROWSER): | $(STAMP)
	if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	fi
	touch $(BROWSER)

browser: $(BROWSER)

demo: $(STAMP)
	$(BIN)/aggregator demo

test: $(STAMP) $(BROWSER) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check aggregator tests benchmarks
	$(BIN)/ruff format --check aggregator tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict aggregator

unit: $(STAMP) $(BROWSER)
	$(BIN)/pytest

# Not part of `make test`: the fetch benchmark needs reader and takes about 11 minutes.
# Pass options with BENCH_ARGS, e.g. make bench BENCH_ARGS="--sources 200 --latency 200".
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.fetch_bench $(BENCH_ARGS)

# Story clustering: quality on the labelled set, then the incremental merge at scale
# (10k, 50k, 100k stored entries) against all-pairs comparison; about 6 minutes.
bench-merge: $(STAMP)
	$(BIN)/python -m benchmarks.cluster_eval
	$(BIN)/python -m benchmarks.merge_bench

screenshots: $(STAMP) $(BROWSER)
	$(BIN)/python scripts/screenshots.py docs/screenshots

clean:
	rm -rf $(VENV) output/* data/*.sqlite* .pytest_cache .mypy_cache .ruff_cache
