# LayerLab: two commands for a newcomer.
#   make run    create .venv, install, open the studio on the bundled digits
#   make test   same set-up, then ruff + the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch wheels come from the machine's wheelhouse / PyPI; pin nothing here, pyproject holds ranges.
PIP_FLAGS ?=

.PHONY: run test lint screenshots bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip $(PIP_FLAGS) || true
	$(BIN)/python -m pip install -q $(PIP_FLAGS) -e ".[dev,export,data]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/layerlab-studio $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check engine app widgets tests bench
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check engine app widgets tests bench

screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m app.screenshots

bench: $(STAMP)
	$(BIN)/python bench/engine_vs_raw.py

clean:
	rm -rf $(VENV) build *.egg-info
