# Liaison Desk (联络通). `make run` and `make test` are the two commands in the README.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENDOR := web/static/vendor

.PHONY: run test bench lint format vendor venv test-venv translations clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

venv: $(BIN)/python
	$(BIN)/pip install --quiet -e .

test-venv: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

vendor: node_modules/.installed
	mkdir -p $(VENDOR)/bootstrap $(VENDOR)/bpmn-js $(VENDOR)/htmx
	cp node_modules/bootstrap/dist/css/bootstrap.min.css $(VENDOR)/bootstrap/
	cp node_modules/bootstrap/dist/js/bootstrap.bundle.min.js $(VENDOR)/bootstrap/
	cp node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js $(VENDOR)/bpmn-js/
	cp node_modules/bpmn-js/dist/bpmn-modeler.production.min.js $(VENDOR)/bpmn-js/
	cp -r node_modules/bpmn-js/dist/assets $(VENDOR)/bpmn-js/
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx/

translations:
	$(BIN)/pybabel compile --use-fuzzy -d web/translations -f >/dev/null

run: venv vendor translations
	$(BIN)/liaison demo
	$(BIN)/liaison serve

test: test-venv vendor translations
	$(BIN)/pytest

bench: test-venv
	$(BIN)/python -m bench.run

lint: test-venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: test-venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) node_modules $(VENDOR) instance
