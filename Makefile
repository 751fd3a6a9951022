# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/devices
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/devices_bench
BENCH_HTTP_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/devices_bench_http
BENCH_BULK_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/devices_bench_bulk
HOST ?= 127.0.0.1
# PORT: make run's (default 8000) and make serve's (default 8080).
PORT ?=
# make serve: its runtime directory, and the address nginx listens on (empty: every address).
SERVE_DIR ?= var/serve
SERVE_HOST ?=

CHROMIUM := /usr/bin/chromium
NGINX := /usr/sbin/nginx

.PHONY: run serve test lint format screenshots bench-admin bench-admin-1m bench-bulk bench-http bench-http-bound clean

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
	$(BIN)/python manage.py runserver $(HOST):$(or $(PORT),8000)

## serve: the production stack in the foreground: nginx on PORT (default 8080) in front of gunicorn (deploy/serve.py)
serve: $(VENV)/.runtime $(NGINX)
	$(BIN)/python deploy/serve.py --port $(or $(PORT),8080) --dir $(SERVE_DIR) --nginx $(NGINX) $(if $(SERVE_HOST),--host $(SERVE_HOST))

## test: lint, then the whole suite against PostgreSQL at TEST_DATABASE_URL (browser tests included)
test: $(VENV)/.dev $(CHROMIUM) $(NGINX) lint
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest

# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "The browser tests need Chromium: sudo apt-get install chromium"; exit 1; \
	fi

# make serve and its tests (tests/serving) run Debian's nginx binary with a configuration of their own.
$(NGINX):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; \
	else \
		echo "make serve and its tests need nginx: sudo apt-get install nginx"; exit 1; \
	fi

## screenshots: retake the screenshots in docs/ (dashboard, device page, ban, license keys, import) with the browser tests
screenshots: $(VENV)/.dev $(CHROMIUM)
	UPDATE_SCREENSHOTS=1 DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest tests/browser

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

## bench-bulk: import, reserve and ban 100,000 then 1,000,000 rows, each twice, into a freshly migrated
##   database (BENCH_BULK_DATABASE_URL, dropped and created): time and peak memory into bench/README.md
bench-bulk: $(VENV)/.dev
	BENCH_BULK_DATABASE_URL=$(BENCH_BULK_DATABASE_URL) $(BIN)/python bench/bulk_commands.py --readme

## bench-http: each protocol's main path over HTTP under gunicorn, against /readyz (into bench/README.md);
##   BENCH_NGINX=1: each endpoint direct to gunicorn and through make serve's nginx instead
bench-http: $(VENV)/.dev $(if $(BENCH_NGINX),$(NGINX))
	DATABASE_URL=$(BENCH_HTTP_DATABASE_URL) $(BIN)/python bench/http_load.py $(if $(BENCH_NGINX),--nginx)

## bench-http-bound: billing activate beside bare views doing only its database work (bench/probe.py)
bench-http-bound: $(VENV)/.dev
	DATABASE_URL=$(BENCH_HTTP_DATABASE_URL) $(BIN)/python bench/http_load.py --bound

clean:
	rm -rf $(VENV) var
