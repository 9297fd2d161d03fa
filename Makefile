# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
DEMO_DB ?= demo/placecat.duckdb
DEMO_REF = pipelines/sample/reference

.PHONY: install demo test test-fast layers docs dagster clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The demo's reference data, loaded again only when its files change (a reload is a new input,
# and a night with a new input rebuilds the catalogue).
DEMO_REF_STAMP = $(dir $(DEMO_DB)).reference-loaded
$(DEMO_REF_STAMP): $(STAMP) $(wildcard $(DEMO_REF)/*.csv)
	@mkdir -p $(dir $(DEMO_DB))
	@$(BIN)/placecat reference load --db $(DEMO_DB) --lga-services $(DEMO_REF)/lga_services.csv \
	  --postcodes $(DEMO_REF)/postcodes.csv --areas $(DEMO_REF)/areas.csv --wards $(DEMO_REF)/wards.csv \
	  --imd $(DEMO_REF)/imd.csv --population $(DEMO_REF)/imd.csv > /dev/null
	@touch $@

## Run the nightly job offline on the bundled sample sources.
demo: $(DEMO_REF_STAMP)
	$(BIN)/placecat run --sources pipelines/sample/sources.yaml --db $(DEMO_DB)
	$(BIN)/placecat report --db $(DEMO_DB) --out $(dir $(DEMO_DB))report.html

## Run the whole test suite (the same command CI runs).
# Test files are shared between two processes (one per core); a file's tests stay in one process,
# so its module fixtures are built once. TEST_WORKERS=0 runs them in this process. The slowest
# tests' durations are printed at the end, so a test that grows slow shows in every CI log.
TEST_WORKERS ?= 2
test: $(STAMP) layers
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=25 $(PYTEST_ARGS)

## Everything but the tests marked `slow` (every end-to-end night is): for quick feedback.
test-fast: $(STAMP) layers
	$(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile --durations=10 $(PYTEST_ARGS)

## The import layers of pyproject.toml's [tool.importlinter]: a module never imports from a layer above.
layers: $(STAMP)
	$(BIN)/lint-imports --no-cache

## Open the Dagster UI on the sample sources.
dagster: $(STAMP)
	PLACECAT_SOURCES=pipelines/sample/sources.yaml PLACECAT_DB=$(DEMO_DB) $(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf demo .pytest_cache

## docs/cli.md from the commands' own --help (tests/test_docs.py fails when it is stale).
docs: $(STAMP)
	$(BIN)/python -m pipelines.cli_reference > docs/cli.md
