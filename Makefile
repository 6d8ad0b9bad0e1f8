# Two entry points for a newcomer: `make test` and `make book`. Both create .venv and install
# everything they need (CPU-only torch 2.13.0, the versions pinned in constraints.txt).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test book notebooks quick nbval-refresh benchmark clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## test: unit tests, a smoke training run and nbval regression tests of the quick notebooks
test: $(STAMP)
	$(BIN)/ruff check paperlib tests benchmarks
	$(BIN)/pytest tests --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

## notebooks: execute every notebook with its default parameters (figures, tables -> data/results)
notebooks: $(STAMP)
	$(BIN)/paperlib reproduce

## book: execute the notebooks, then render _build/html without executing again
book: notebooks
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "open _build/html/index.html"

## nbval-refresh: re-record the nbval references (after an agent or an analysis changed on purpose)
nbval-refresh: $(STAMP)
	$(BIN)/paperlib reproduce --quick --output-dir tests/notebooks

## benchmark: training throughput, exact feature maps vs Captum (and forms of conv3's change), C&W vs ART (captum and ART: benchmark-only)
benchmark: $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[bench]"
	$(BIN)/python -m benchmarks.training_throughput
	$(BIN)/python -m benchmarks.feature_map_speed
	$(BIN)/python -m benchmarks.conv3_forms
	$(BIN)/python -m benchmarks.cw_speed --agent data/agents/pong-ddqn

clean:
	rm -rf _build book/executed
