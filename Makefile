# Two commands for people: `make run` and `make test`. Everything else is set-up they share.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup install migrate demo lint

run: setup
	@$(BIN)/python manage.py demo_credentials
	$(BIN)/uvicorn config.asgi:application --host $(HOST) --port $(PORT) --timeout-graceful-shutdown 5

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

setup: install migrate demo

install: $(VENV)/.requirements-installed node_modules/.package-lock.json

$(VENV)/.requirements-installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# npm writes node_modules/.package-lock.json on every install, so it marks a finished `npm ci`.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

migrate:
	$(BIN)/python manage.py migrate --noinput

demo:
	$(BIN)/python manage.py seed_demo

lint:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
