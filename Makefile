# sparkctl: `make test` sets up everything on a bare Debian 12 machine (as root) and runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test unit lint demo sysdeps venv bench-venv clean bench schemas

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/.installed

# llama-benchy for `sparkctl bench` tests, in its own venv: the lean install (no transformers), pinned.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --no-deps llama-benchy==0.4.0
	$(BENCH_VENV)/bin/pip install -q aiohttp numpy "pydantic>=2.12.5" requests tabulate tokenizers
	touch $@

bench-venv: $(BENCH_VENV)/.installed

sysdeps:
	bash tests/sim/system-deps.sh

test: sysdeps venv bench-venv
	$(BIN)/pytest -q

unit: venv
	$(BIN)/pytest -q tests/unit tests/cli

# The JSON Schemas editors read through the files' `# yaml-language-server: $schema=` modelines.
schemas: venv
	$(BIN)/sparkctl schema recipe > recipes/recipe.schema.json
	$(BIN)/sparkctl schema inventory > inventory.schema.json
	$(BIN)/sparkctl schema stack > stack.schema.json

lint: venv
	$(BIN)/ruff check orchestrator tests bench

demo: sysdeps venv bench-venv
	$(BIN)/python -m tests.demo

bench: sysdeps venv
	$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache
