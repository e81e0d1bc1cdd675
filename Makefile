# The README's commands. `make setup` is idempotent: it rebuilds .venv when pyproject changes.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup test lint bench clean run default-model prometheus up

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	# torch first and pinned: the local CPU wheel, never a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[train,export,serve,loadtest,dev]"
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

# Serve the default model on 127.0.0.1:8000, building it first when it is missing
# (synthetic data, train, export: a few minutes, with progress).
MODEL_ROOT ?= models/default
HOST ?= 127.0.0.1
PORT ?= 8000

default-model: setup
	$(PY) -m service.default_model --root $(MODEL_ROOT)

run: default-model
	$(VENV)/bin/robe serve --model robe=$(MODEL_ROOT)/robe --host $(HOST) --port $(PORT)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
