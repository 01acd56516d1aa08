# Two commands do all set-up:  `make run` (the baseline scenario) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.12 || command -v python3.13 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install browser lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## The main job: the baseline scenario, a summary table, and the monthly results in runs/.
run: $(STAMP)
	$(BIN)/agentmarket run --scenario baseline

## Everything the tests need (Chromium for the dashboard tests, offline front-end assets), then the suite.
test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 --dist loadgroup

browser: $(STAMP)
	bash scripts/install-browser.sh

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
