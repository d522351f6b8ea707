# The README's two commands: `make train` (main job) and `make test` (the test suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.plotline-installed

.PHONY: install train test lint fmt bench gpu-check clean

# Create .venv once and install plotline with exact pins (constraints.txt locks the transitive set).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,serving]"
	touch $(STAMP)

install: $(STAMP)

# Main job: the embedded default (shapes world, CPU, local storage under ./runs).
train: $(STAMP)
	$(BIN)/plotline train $(ARGS)

# Test suite (CPU; tests/gpu is skipped without CUDA). pytest's exit 5 (no tests) counts as a failure here.
# TEST_WORKERS xdist processes take whole files (each test process runs torch on one thread); TEST_WORKERS=0 runs
# the suite in this process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(ARGS)

# Lint (ruff), format check (ruff format) and type check (mypy; its files and settings are in pyproject.toml).
# Each step runs even when an earlier one fails, so one run lists everything; the target fails if any did.
lint: $(STAMP)
	@rc=0; \
	$(BIN)/ruff check . || rc=1; \
	$(BIN)/ruff format --check . || rc=1; \
	$(BIN)/mypy || rc=1; \
	exit $$rc

# Apply ruff's safe fixes and the formatter over the whole tree (tools/lint_fix.sh).
fmt: $(STAMP)
	RUFF=$(BIN)/ruff bash tools/lint_fix.sh

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(ARGS)

# Real-size executor (random weights, no downloads) on the GPU present: rollout at N=8 + one update; time, memory, MFU.
gpu-check: $(STAMP)
	$(BIN)/python -m benchmarks.gpu_check $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
