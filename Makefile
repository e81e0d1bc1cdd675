# The README's commands. `make setup` is idempotent: it rebuilds .venv when pyproject changes.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup test lint bench clean prometheus up

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	# torch first and pinned: the local CPU wheel, never a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[train,export,serve,dev]"
	touch $@

test: setup prometheus
	$(PY) -m pytest $(PYTEST_ARGS)

# Debian's prometheus, for tests/deploy (a real scrape of the live service)
prometheus:
	deploy/install-prometheus.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

# The service, Prometheus and Grafana (http://localhost:3000); see docs/deploy.md
up:
	docker compose up --build

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
