# 信息化学堂 — the two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test test-pg flake-check bench demo clean

$(VENV)/.app: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.app
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

## run: install, upgrade the embedded database, load the curriculum, start the app
run: $(VENV)/.app
	$(PY) cli.py db upgrade
	$(PY) cli.py content load
	$(VENV)/bin/streamlit run server.py --server.port $(PORT)

## test: install what the tests need (Debian's Chromium for the browser tests), run them all
test: $(VENV)/.dev
	bash scripts/test-deps.sh
	$(PY) -m ruff check .
	$(PY) -m pytest tests

## test-pg: the same suite on PostgreSQL (TEST_DATABASE_URL=postgresql+psycopg://user:pw@host/db);
## PG_TESTS narrows it (CI: services, pages and the exam browser tests)
PG_TESTS ?= tests
test-pg: $(VENV)/.dev
	test -n "$(TEST_DATABASE_URL)" || (echo "set TEST_DATABASE_URL"; exit 2)
	bash scripts/test-deps.sh
	$(PY) -m ruff check .
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest $(PG_TESTS)

## flake-check: the browser tests 10 times in a row, stopping at the first failure ("N/10 green");
## FLAKE_ARGS=--head checks the last commit as a fresh clone has it
flake-check: $(VENV)/.dev
	bash scripts/test-deps.sh
	PY=$(abspath $(PY)) bash scripts/flake-check $(FLAKE_ARGS)

bench: $(VENV)/.dev
	$(PY) bench/import_users.py

clean:
	rm -rf $(VENV) tests/e2e/artifacts .pytest_cache
