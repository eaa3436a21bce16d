# sparkctl: `make test` sets up everything on a bare Debian 12 machine (as root) and runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test unit lint demo sysdeps venv clean bench

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/.installed

sysdeps:
	bash tests/sim/system-deps.sh

test: sysdeps venv
	$(BIN)/pytest -q

unit: venv
	$(BIN)/pytest -q tests/unit tests/cli

lint: venv
	$(BIN)/ruff check orchestrator tests bench

demo: sysdeps venv
	$(BIN)/python -m tests.demo

bench: sysdeps venv
	$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV) .pytest_cache
