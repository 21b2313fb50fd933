# Every target creates or reuses .venv and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench bench-peers lint venv clean wheel-check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/hub demo

# TEST_WORKERS=2: two pytest-xdist workers (CI has two cores); each file, or each set of files
# sharing a costly session fixture, runs on one worker, the longest groups first
# (tests/conftest.py). 0: one process. --durations: the figures that keep that order true.
TEST_WORKERS ?= 2
test: $(STAMP)
	bash .ci/with-postgres.sh $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=30 $(PYTEST_ARGS)

# Build the wheel, install it into a fresh venv outside the checkout, run the CLI from an
# empty folder (needs no .venv).
wheel-check:
	PYTHON=$(PYTHON) bash .ci/wheel-check

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-peers: $(STAMP)
	$(BIN)/python -m bench peers $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check models connectors hub tests bench
	$(BIN)/ruff format --check models connectors hub tests bench
	$(BIN)/mypy

clean:
	rm -rf .hub target logs dbt_packages build dist
