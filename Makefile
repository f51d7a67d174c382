# arc-eval-db. A newcomer needs two commands: `make demo` and `make test`.
# Both install what is missing (virtualenv, PostgreSQL extensions) and start the embedded
# database (scripts/localdb.sh: the timescaledb-ha image under Docker, else a local cluster).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The admin URL of the server: ARC_TEST_DATABASE_URL when given, else the embedded one.
SERVER_URL = $${ARC_TEST_DATABASE_URL:-$$(bash scripts/localdb.sh start)}
DEMO_URL = $${TIMESCALE_SERVICE_URL:-$$(bash scripts/localdb.sh start | sed 's|/postgres$$|/arc_demo|')}

.PHONY: install demo test test-unit bench migrate db db-stop lint typecheck check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

db:
	@bash scripts/localdb.sh start

db-stop:
	@bash scripts/localdb.sh stop

demo: install
	@url=$(DEMO_URL) && TIMESCALE_SERVICE_URL="$$url" $(BIN)/arc-db demo

test: install
	@url=$(SERVER_URL) && ARC_TEST_DATABASE_URL="$$url" $(BIN)/pytest -q $(PYTEST_ARGS)

test-unit: install
	$(BIN)/pytest -q tests/unit

bench: install
	@url=$(SERVER_URL) && ARC_TEST_DATABASE_URL="$$url" $(BIN)/python -m bench $(BENCH_ARGS)

migrate: install
	@url=$(DEMO_URL) && TIMESCALE_SERVICE_URL="$$url" $(BIN)/arc-db migrate upgrade

lint: install
	$(BIN)/ruff check arc migrations tests bench
	$(BIN)/ruff format --check arc migrations tests bench

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
