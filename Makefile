# The same commands the README shows. `make up` runs the platform; `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: install up demo test lint bench lock clean

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	scripts/install.sh
	@touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	scripts/install-node-tools.sh
	@touch $(NODE_STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/switchboard up

demo: $(STAMP)
	$(BIN)/switchboard demo

test: $(STAMP) $(NODE_STAMP)
	scripts/install-browser.sh
	$(MAKE) lint
	node --test tests/console/
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=25

lint: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check libs services tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy
	npx --no-install eslint services/gateway/console tests/console scripts/vendor-console.mjs scripts/vendor-charts.mjs eslint.config.js
	node scripts/vendor-console.mjs --check
	node scripts/vendor-charts.mjs --check

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	@for b in $$(ls bench/*.py | grep -v __init__ | xargs -n1 basename | sed 's/\.py$$//'); do \
		echo "== bench.$$b"; $(BIN)/python -m bench.$$b || exit 1; done

# Bootstraps uv into .venv when it is missing, so it works on a fresh clone (see scripts/lock.sh).
lock:
	scripts/lock.sh

clean:
	rm -rf .data $(VENV) node_modules
