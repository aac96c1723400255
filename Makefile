# The two commands the README promises: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench package clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "elbsync needs Python 3.10 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/elbsync demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

test: lint typecheck
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/cold_start.py

# The FunctionGraph dependency package: build/elbsync-deps.zip with python/ holding the runtime
# libraries (for the Python 3.12 runtime, x86_64) and elbsync without its developer kit.
package: $(STAMP)
	rm -rf build/package && mkdir -p build/package/python
	$(BIN)/python -m pip install --quiet --target build/package/python \
		--platform manylinux2014_x86_64 --python-version 3.12 --only-binary=:all: \
		httpx pydantic structlog jsonschema
	cp -r shared/elbsync build/package/python/elbsync
	rm -rf build/package/python/elbsync/devkit
	find build/package -name __pycache__ -prune -exec rm -rf {} +
	cd build/package && ../../$(BIN)/python -m zipfile -c ../elbsync-deps.zip python
	@echo "built build/elbsync-deps.zip"

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache
