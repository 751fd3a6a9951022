# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/devices
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/devices_bench
BENCH_HTTP_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/devices_bench_http
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format bench-admin bench-admin-1m bench-bulk bench-http clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

## run: serve on http://$(HOST):$(PORT) with an embedded SQLite database and demo data
run: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## test: lint, then the whole suite against PostgreSQL at TEST_DATABASE_URL
test: $(VENV)/.dev lint
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DATABASE_URL=sqlite://:memory: $(BIN)/python manage.py makemigrations --check --dry-run

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench-admin: the admin device list with 200,000 devices (PostgreSQL at BENCH_DATABASE_URL)
bench-admin: $(VENV)/.dev
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python bench/admin_list.py --devices 200000

## bench-admin-1m: the same with 1,000,000 devices
bench-admin-1m: $(VENV)/.dev
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python bench/admin_list.py --devices 1000000

## bench-bulk: import, reserve and ban 10,000 then 100,000 rows with the commands
bench-bulk: $(VENV)/.dev
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python bench/bulk_commands.py

## bench-http: each protocol's main path over HTTP under gunicorn, against /readyz (into bench/README.md)
bench-http: $(VENV)/.dev
	DATABASE_URL=$(BENCH_HTTP_DATABASE_URL) $(BIN)/python bench/http_load.py

clean:
	rm -rf $(VENV) var
