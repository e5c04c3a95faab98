# Helpline — `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The suite runs in one process per core (pytest-xdist), each test file whole in one process so its
# module-scoped servers and browser start once; tests/conftest.py keeps the processes apart.
# `make test PYTEST_XDIST=` (or PYTEST_ARGS="-n 0") runs it in a single process.
PYTEST_XDIST ?= -n auto --dist loadfile

.DEFAULT_GOAL := help
.PHONY: help install run test test-sqlite check lint format bench clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

install: $(STAMP) ## Create .venv and install Helpline with its locked dependencies

run: $(STAMP) ## Set up everything (migrations, demo data) and serve on http://127.0.0.1:8000
	$(BIN)/helpline migrate
	$(BIN)/helpline demo
	$(BIN)/helpline serve --host 127.0.0.1 --port 8000

test: $(STAMP) ## Run the whole suite (SQLite always; PostgreSQL and Redis when reachable)
	$(BIN)/pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

check: $(STAMP) ## Lint, format check, strict type check and the import contracts (pyproject.toml)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(STAMP) ## Format the code
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP) ## Run the benchmarks (JSON lines on stdout); see docs/performance.md
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean: ## Remove the virtual environment and local data
	rm -rf $(VENV) var
