VENV ?= .venv
PYTHON := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=

.PHONY: up install test-install test lint benchmark clean

$(PYTHON):
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(PYTHON)
	$(PIP) install --quiet -e .

up: install
	$(VENV)/bin/shipyard up

test-install: $(PYTHON)
	$(PIP) install --quiet -e '.[test]'

test: test-install
	$(PYTHON) -m ruff check src tests benchmarks examples
	$(PYTHON) -m mypy
	$(PYTHON) -m pytest -n 2 --cov=shipyard --cov-report=term:skip-covered $(PYTEST_ARGS)

benchmark: install
	$(PYTHON) benchmarks/training_overhead.py
	$(PYTHON) benchmarks/tuning.py
	$(PYTHON) benchmarks/pipeline_caching.py
	$(PYTHON) benchmarks/metrics.py
	$(PYTHON) benchmarks/serving.py
	$(PYTHON) benchmarks/batch_transform.py

clean:
	rm -rf $(VENV) .pytest_cache .coverage
