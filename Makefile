# Two commands for people: `make run` and `make test`. Everything else is set-up they share,
# done once and remembered by stamp files, so the second run starts in seconds.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k seed -x"`.
PYTEST_ARGS ?=

.PHONY: run worker test setup install bundle messages migrate static demo lint clean-demo

## Serve the demo at http://$(HOST):$(PORT)/ under uvicorn (ASGI, so replies can stream),
## with one background worker beside it (Procfile, run by honcho; Ctrl+C stops both).
run: setup
	@$(BIN)/python manage.py demo_credentials --host $(HOST) --port $(PORT)
	WEB_HOST=$(HOST) WEB_PORT=$(PORT) $(BIN)/honcho --procfile Procfile start

## One more background worker (start as many as the load needs; they share the queue).
worker: setup
	$(BIN)/python manage.py worker

## Lint, format check, migrations check and the whole test suite.
test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

setup: install bundle messages migrate static demo

install: $(VENV)/.requirements-installed node_modules/.package-lock.json

$(VENV)/.requirements-installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# npm writes node_modules/.package-lock.json on every install, so it marks a finished `npm ci`.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# The SQL editor (CodeMirror 6 and our static/js/sql-editor/*.js) bundled by esbuild from npm
# into build/static/, which settings.STATICFILES_DIRS serves; the bundle is never committed.
EDITOR_BUNDLE := build/static/sql-editor/sql-editor.js
bundle: $(EDITOR_BUNDLE)

$(EDITOR_BUNDLE): $(wildcard static/js/sql-editor/*.js) node_modules/.package-lock.json
	node_modules/.bin/esbuild static/js/sql-editor/main.js --bundle --minify --format=iife \
		--target=es2020 --sourcemap --log-level=warning --outfile=$@

# Translations: Babel compiles each locale/<lang>/LC_MESSAGES/*.po into the .mo file Django
# reads, so a fresh machine needs no system gettext. The .mo files are build output (ignored).
MESSAGES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/*.po))
messages: $(MESSAGES)

locale/%.mo: locale/%.po $(VENV)/.requirements-installed
	$(BIN)/pybabel compile --statistics --locale=$(firstword $(subst /, ,$*)) --input-file=$< --output-file=$@

# Static files collected into $(VAR_DIR)/static under content-hashed names, compressed, for
# WhiteNoise to serve with a long max-age (settings, STORAGES). Collecting takes ~15 s, so it
# runs again only when our static files, the npm packages or the settings (NPM_STATIC_FILES)
# changed.
VAR_DIR ?= var
static: $(VAR_DIR)/static/staticfiles.json

$(VAR_DIR)/static/staticfiles.json: $(shell find static -type f) config/settings.py \
		node_modules/.package-lock.json $(EDITOR_BUNDLE)
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

# Both are cheap when there is nothing to do: migrate checks its table, seed_demo keeps an
# up-to-date dataset and only adds demo objects that are missing.
migrate:
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py install_templates

demo:
	$(BIN)/python manage.py seed_demo

lint:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Forget the local demo (app database and marketplace file); the next `make run` rebuilds both.
clean-demo:
	rm -f var/app.sqlite3 var/marketplace.sqlite3
