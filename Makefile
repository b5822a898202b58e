PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-test clean bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e ".[examples]"
	$(BIN)/vive warm -q

install-test: $(BIN)/python
	$(BIN)/pip install -q -e ".[test,examples]"

demo: install
	$(BIN)/python examples/train_lenet.py

test: install-test
	$(BIN)/python -m pytest -q -n 2 tests

bench: $(BIN)/python
	$(BIN)/pip install -q -e ".[test,examples,bench]"
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
