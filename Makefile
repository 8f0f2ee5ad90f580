# The front door: `make run` and `make test` need only Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin

.PHONY: run test lint typecheck pytest openapi bench-ingest bench-sync bench-status bench-reads soak chaos audit dockerlint clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

## Start everything locally (embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set).
run: $(VENV)/.installed
	$(PY) -m app run

## Lint, type-check and run the whole test suite against real PostgreSQL and Redis.
test: $(VENV)/.installed-dev lint typecheck dockerlint pytest

## Style, and the import contracts of pyproject.toml (who may import whom).
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy app tests bench

dockerlint: $(VENV)/.installed-dev
	$(BIN)/hadolint Dockerfile

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest

## Regenerate openapi.yaml from the app.
openapi: $(VENV)/.installed
	$(PY) -m app openapi

## Known vulnerabilities in the locked dependencies (requirements.lock); needs the network.
audit: $(VENV)/.installed-dev
	$(BIN)/pip-audit -r requirements.lock --no-deps

## Intake throughput against a real uvicorn process, with the bare-asyncpg ceiling of this machine.
bench-ingest: $(VENV)/.installed-dev
	$(PY) -m bench.ingest

## The per-realm QBO budget under a backlog: API, two workers and the emulator as processes.
bench-sync: $(VENV)/.installed-dev
	$(PY) -m bench.sync

## GET /sync-status latency with 1,000,000 events in the table.
bench-status: $(VENV)/.installed-dev
	$(PY) -m bench.status

## Metered QBO reads in a steady state of 20 companies: per synced record, per idle company a month.
bench-reads: $(VENV)/.installed-dev
	$(PY) -m bench.reads

## Faults on a schedule against the whole system as processes; then the books are checked.
chaos: $(VENV)/.installed-dev
	$(PY) -m bench.chaos

## 10 minutes of intake and sync near the realms' budgets: errors, p99 per minute, RSS growth.
soak: $(VENV)/.installed-dev
	$(PY) -m bench.soak

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
