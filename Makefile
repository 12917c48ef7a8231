# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   # the whole pipeline on the bundled NAFLD cohort
#   make test   # the whole test suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= configs/nafld.yml
PORT ?= 8501

.PHONY: install install-dev demo app test lint benchmark clean

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

demo: install
	$(BIN)/python -m synth demo --config $(CONFIG)

app: install
	$(BIN)/streamlit run app/explorer.py --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false -- --config $(CONFIG)

test: install-dev
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint sql --templater raw --dialect duckdb
	for dataset in nafld nhanes pbc; do \
		SYNTH_DATABASE=:memory: $(BIN)/sqlfluff lint --config dbt_project/lint/$$dataset.cfg models \
			|| exit 1; \
	done

benchmark: install-dev
	$(BIN)/python benchmarks/bench_generator.py
	$(BIN)/python benchmarks/bench_metrics.py

clean:
	rm -rf runs dbt_project/target dbt_project/logs
