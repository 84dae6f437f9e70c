# The README and .ci/run call these targets verbatim.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian's Chromium and ChromeDriver for the browser tests and screenshots (we are root
# on CI); apt-get runs only when either is missing, so this is fast once installed.
BROWSER := $(VENV)/.browser

.PHONY: demo test lint typecheck unit browser screenshots clean

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
	$(BIN)/ruff check aggregator tests
	$(BIN)/ruff format --check aggregator tests

typecheck: $(STAMP)
	$(BIN)/mypy --strict aggregator

unit: $(STAMP) $(BROWSER)
	$(BIN)/pytest

screenshots: $(STAMP) $(BROWSER)
	$(BIN)/python scripts/screenshots.py docs/screenshots

clean:
	rm -rf $(VENV) output/* data/*.sqlite* .pytest_cache .mypy_cache .ruff_cache
