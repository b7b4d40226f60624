# The two commands: `make serve` (server on the embedded store) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two install levels: the server alone (make serve), and the server with the test tools.
RUNTIME_STAMP := $(VENV)/.runtime-stamp
STAMP := $(VENV)/.installed-stamp
ARGS ?=

.PHONY: serve test test-reliability bench bench-ladder bench-moving bench-ab lint format typecheck clean services

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e .
	touch $(RUNTIME_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(RUNTIME_STAMP) $(STAMP)

# The JavaScript apify-client and the Apify CLI, for tests/test_js_clients.py (needs node and npm).
JS_STAMP := tests/js/node_modules/.installed-stamp
$(JS_STAMP): tests/js/package.json tests/js/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd tests/js && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed-stamp; \
	else echo "npm not found: the JavaScript client tests will be skipped"; fi

serve: $(RUNTIME_STAMP)
	$(BIN)/openkvs serve $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# PostgreSQL 15 for the scale-out tests and Chromium for the console's browser tests (apt-get;
# does nothing when already installed).
services:
	bash tests/install_services.sh

test: lint typecheck $(JS_STAMP) services
	$(BIN)/python -m pytest -q $(ARGS)

# Only the reliability suite (crash, fsync audit, concurrency, hostile input, disk full, soak).
test-reliability: $(STAMP) services
	$(BIN)/python -m pytest -q -m reliability $(ARGS)

# The benchmark (issue: performance): openkvs vs SeaweedFS's S3 gateway and nginx, with wrk.
# Installs wrk and nginx-light with apt-get when missing; writes docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python -m bench.run $(ARGS)

# Where W2's time goes: openkvs with its small-record write replaced step by step, the floor
# and SeaweedFS, interleaved; writes docs/w2-ladder.md.
bench-ladder: $(STAMP)
	$(BIN)/python -m bench.ladder $(ARGS)

# How fast and in how much memory `openkvs copy` moves 10,000 small records and one 1 GiB record
# between two local servers (prints; writes nothing).
bench-moving: $(STAMP)
	$(BIN)/python -m bench.moving $(ARGS)

# The access log's and the metrics' cost on W1 as paired A/B runs, an identical twin as control.
bench-ab: $(STAMP)
	$(BIN)/python -m bench.ab_pairs $(ARGS)

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build dist src/*.egg-info
