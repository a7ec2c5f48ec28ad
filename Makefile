# The same commands the README shows. `make up` runs the platform; `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install up demo test lint bench lock clean

$(STAMP): requirements.lock pyproject.toml
	scripts/install.sh
	@touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/switchboard up

demo: $(STAMP)
	$(BIN)/switchboard demo

test: $(STAMP)
	scripts/install-browser.sh
	$(MAKE) lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check libs services tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	@for b in $$(ls bench/*.py | grep -v __init__ | xargs -n1 basename | sed 's/\.py$$//'); do \
		echo "== bench.$$b"; $(BIN)/python -m bench.$$b || exit 1; done

lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header \
		-o requirements.lock

clean:
	rm -rf .data $(VENV)
