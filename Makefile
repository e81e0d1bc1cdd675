# The README's commands. `make setup` is idempotent: it rebuilds .venv when pyproject changes.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup test lint bench clean run default-model loadtest prometheus up

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
	$(VENV)/bin/lint-imports
	$(PY) .ci/check_layers.py
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(PY) deploy/validate_k8s.py

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

# ROBE against its plain-table baseline (the same preset, data and catalog), each model in
# a `robe serve` process of its own: open-loop rate sweeps, /metrics, resident memory and
# cold start -> $(LOADTEST_OUT)/report.{json,md} and PNG plots. The models are built once
# under $(LOADTEST_ROOT) (synthetic data, train, export to ONNX with its int8 variant and
# accuracy guard, so each is served at its fastest verified precision: ~15 min on 2 cores) and
# reused; latency does not depend on how long they trained, so the default is small.
LOADTEST_ROOT ?= models/loadtest
LOADTEST_ROWS ?= 20000
LOADTEST_RATES ?= 100,200,300,400,500,600,700,800,900,1000
LOADTEST_DURATION ?= 12
LOADTEST_ROUNDS ?= 4
LOADTEST_P99_MS ?= 50
LOADTEST_OUT ?= build/loadtest
LOADTEST_ARGS ?=

loadtest: setup
	$(PY) -m service.default_model --root $(LOADTEST_ROOT) --rows $(LOADTEST_ROWS) --full --formats onnx
	$(VENV)/bin/robe loadtest \
		--serve robe=$(LOADTEST_ROOT)/robe --serve full=$(LOADTEST_ROOT)/full \
		--schema $(LOADTEST_ROOT)/data/schema.json --catalog $(LOADTEST_ROOT)/data/items.jsonl \
		--rates $(LOADTEST_RATES) --duration $(LOADTEST_DURATION) --rounds $(LOADTEST_ROUNDS) \
		--p99-target-ms $(LOADTEST_P99_MS) --out $(LOADTEST_OUT) $(LOADTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Benchmarks: lookups and the whole model side by side, then the service on loopback.
# Results go to bench/results/ and the tables in bench/README.md.
BENCH_MACHINE ?= cpu-2core

bench: setup
	$(VENV)/bin/robe bench lookup --out bench/results/lookup-$(BENCH_MACHINE).json
	$(VENV)/bin/robe bench model --out bench/results/model-$(BENCH_MACHINE).json
	$(VENV)/bin/robe bench table bench/results/lookup-$(BENCH_MACHINE).json bench/results/model-$(BENCH_MACHINE).json --update bench/README.md
	$(PY) -m service.default_model --root $(MODEL_ROOT) --full
	$(VENV)/bin/robe bench service --model robe=$(MODEL_ROOT)/robe --model full=$(MODEL_ROOT)/full --out bench/service.json
