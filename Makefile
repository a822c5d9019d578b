# Two entry points, both self-contained on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_DIR ?= runs/demo

.PHONY: demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: pip then keeps this CPU build instead of pulling a CUDA one.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,ray]"
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(RUN_DIR)  # the demo's own folder: every demo starts fresh
	$(BIN)/rnnagents --threads 1 train ram --preset demo --no-progress --run-dir $(RUN_DIR)
	$(BIN)/rnnagents eval ram $(RUN_DIR) --split test --episodes 1000
	$(BIN)/rnnagents watch $(RUN_DIR) --episodes 3 --out $(RUN_DIR)/watch.mp4
	@echo "Demo outputs are in $(RUN_DIR)/ (config.json, metrics.jsonl, checkpoint.pt, eval.json, watch.mp4)"

test: $(STAMP)
	WANDB_MODE=offline $(BIN)/python -m pytest -n 2 -q

test-fast: $(STAMP)  # everything but the subprocess CLI tests (marked slow)
	WANDB_MODE=offline $(BIN)/python -m pytest -n 2 -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check rnnagents tests benchmarks
	$(BIN)/ruff format --check rnnagents tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
