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

.PHONY: install demo test test-unit bench migrate db db-stop db-status lint typecheck check clean docs
# Run a second time through PgBouncer (transaction mode): the write path, faults and security.
POOLED_SUITES = tests/integration/ingest tests/integration/core/test_pgbouncer.py \
	$(wildcard tests/integration/schema/test_security*.py) tests/integration/schema/test_audit.py \
	tests/integration/otel tests/integration/export/test_export_pgbouncer.py

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

db-status:
	@bash scripts/localdb.sh status

demo: install
	@url=$(DEMO_URL) && TIMESCALE_SERVICE_URL="$$url" $(BIN)/arc-db demo

# Without ARC_TEST_DATABASE_URL: the embedded cluster with TLS, a streaming replica and PgBouncer
# (scripts/localdb.sh env), the whole suite, then the pooled suites through PgBouncer.
test: install
	@if [ -z "$${ARC_TEST_DATABASE_URL:-}" ]; then eval "$$(bash scripts/localdb.sh env)"; fi; \
	$(BIN)/pytest -q $(PYTEST_ARGS) && \
	if [ -n "$${ARC_TEST_PGBOUNCER_URL:-}" ]; then \
	  echo "== again through PgBouncer: the write-path, fault and security suites"; \
	  ARC_TEST_THROUGH_PGBOUNCER=1 $(BIN)/pytest -q $(PYTEST_ARGS) $(POOLED_SUITES); \
	fi

test-unit: install
	$(BIN)/pytest -q tests/unit

bench: install
	@url=$(SERVER_URL) && ARC_TEST_DATABASE_URL="$$url" $(BIN)/python -m bench $(BENCH_ARGS)

migrate: install
	@url=$(DEMO_URL) && TIMESCALE_SERVICE_URL="$$url" $(BIN)/arc-db migrate upgrade

lint: install
	$(BIN)/ruff check arc tests bench
	$(BIN)/ruff format --check arc tests bench

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

# The API reference from the docstrings (pdoc, extra `docs`) in docs/api/ (git-ignored); not part
# of `make test`. Every module is named, since a package's __all__ hides its submodules from pdoc.
docs: install
	rm -rf docs/api
	$(BIN)/python -W "ignore:The module specification" -m pdoc -o docs/api \
	  --footer-text "arc-eval-db $$($(BIN)/python -c 'import arc.database as a; print(a.__version__)')" \
	  $$(find arc/database -name '*.py' ! -path '*/migrations/*' ! -name '__main__.py' \
	    | sed -e 's|/__init__\.py$$||' -e 's|\.py$$||' -e 's|/|.|g' | sort)
	@echo "API reference: docs/api/index.html"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
