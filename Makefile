# The two commands the README promises: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
DEV     := $(VENV)/.dev-installed

.PHONY: demo burst test soak lint typecheck unit bench schemas package clean

# The demo needs only the runtime; the tests add the development tools on top.
$(RUNTIME): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "elbsync needs Python 3.10 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $(RUNTIME)

$(DEV): $(RUNTIME)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(DEV)

demo: $(RUNTIME)
	$(BIN)/elbsync demo

# An Auto Scaling burst against the emulator: 100 launches, 20 concurrent invocations, measured.
burst: $(RUNTIME)
	$(BIN)/elbsync burst

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV)
	$(BIN)/mypy

unit: $(DEV)
	$(BIN)/pytest tests/unit

test: lint typecheck
	$(BIN)/pytest

# The fault campaign at scale: seeded random runs with API and store faults, crashes,
# redeliveries and races, each checked by the model in tests/reliability (`make test` runs 200);
# then http_api fuzzed from its OpenAPI document, FUZZ_EXAMPLES cases per operation.
SEEDS ?= 2000
FUZZ_EXAMPLES ?= 500
soak: $(DEV)
	$(BIN)/python -m tests.reliability.campaign --seeds $(SEEDS) --first 100000
	ELBSYNC_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/integration/functions/test_http_api_fuzz.py

bench: $(DEV)
	$(BIN)/python benchmarks/cold_start.py

# The published event schemas (shared/elbsync/inbound/schemas/) and the OpenAPI document
# (shared/elbsync/api/openapi.json), rewritten from their models.
schemas: $(RUNTIME)
	$(BIN)/python -m elbsync.inbound.published --write
	$(BIN)/python -m elbsync.api.openapi --write

# The FunctionGraph dependency package: build/elbsync-deps.zip with python/ holding the runtime
# libraries (for the Python 3.12 runtime, x86_64) and elbsync without its developer kit.
package: $(RUNTIME)
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
