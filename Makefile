# Modelgate: `make run` starts the service with embedded defaults, `make test`
# runs the test suite. `make help` lists every target.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
DATA_DIR ?= var
export PYTHONUNBUFFERED := 1
export DO_NOT_TRACK := 1
export NO_MKDOCS_2_WARNING := 1

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"

$(VENV)/.runtime: $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install --quiet -c requirements.lock -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/pip install --quiet -c requirements.lock -e ".[dev]"
	@touch $@

.PHONY: install
install: $(VENV)/.runtime ## create the virtualenv and install the service

.PHONY: install-dev
install-dev: $(VENV)/.dev ## install the service with test and docs tools

.PHONY: setup
setup: install ## migrate, seed demo users, train, register and promote the demo models if absent
	@mkdir -p $(DATA_DIR)
	$(PY) manage.py migrate --no-input -v 0
	$(PY) manage.py collectstatic --no-input -v 0
	$(PY) manage.py seed_demo
	$(PY) manage.py seed_demo_policy
	$(PY) manage.py setup_periodic_tasks
	$(PY) manage.py train --config params.yaml --if-absent
	$(PY) manage.py seed_monitors --model sms-spam --model breast-cancer
	$(PY) manage.py train --config params-tabular.yaml --if-absent
	$(PY) manage.py seed_promotions

.PHONY: run
run: setup ## set up, then run web (http://127.0.0.1:8000), worker and beat; Ctrl-C stops all (DJANGO_DEBUG=true for debug pages)
	@echo "Modelgate on http://127.0.0.1:8000  (demo logins: $(DATA_DIR)/demo-credentials.txt)"
	@echo "DEBUG is $(if $(filter true True 1 yes on,$(DJANGO_DEBUG)),on,off (developing: DJANGO_DEBUG=true make run))"
	PATH="$(CURDIR)/$(BIN):$$PATH" PROMETHEUS_MULTIPROC_DIR="$(CURDIR)/$(DATA_DIR)/prometheus" $(BIN)/honcho start -f Procfile $(if $(REDIS_URL),web worker beat stream,web worker beat)

.PHONY: test
test: $(VENV)/.dev ## set up and run the whole test suite
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: reliability
reliability: $(VENV)/.dev ## every RELIABILITY check on a live production-like stack (PostgreSQL on 127.0.0.1:5432, redis-server); writes docs/reliability.md
	$(PY) -m tests.reliability.run --report docs/reliability.md $(RELIABILITY_ARGS)

.PHONY: reliability-fast
reliability-fast: $(VENV)/.dev ## the CI part of the reliability suite (every check but the slow outage drills 10-12, CI-sized)
	$(PY) -m tests.reliability.run --fast $(RELIABILITY_ARGS)

.PHONY: reliability-faults
reliability-faults: $(VENV)/.dev ## break each invariant on purpose (tests/reliability/faults) and show its check fails; writes docs/reliability-faults.md
	$(PY) -m tests.reliability.run --fast --faults --report docs/reliability-faults.md $(RELIABILITY_ARGS)

.PHONY: reliability-inference
reliability-inference: $(VENV)/.dev ## inference reliability checks at full size (needs DATABASE_URL=postgres://..., REDIS_URL)
	INFERENCE_LOAD_REQUESTS=10000 MODELGATE_REQUIRE_SERVICES=1 $(BIN)/pytest tests/inference/test_live_serving.py tests/inference/test_stream.py tests/inference/test_validation_matrix.py $(PYTEST_ARGS)

.PHONY: bench-serve
bench-serve: $(VENV)/.dev ## serving benchmark against mlflow models serve (needs wrk, PostgreSQL; see docs/benchmark.md)
	$(PY) bench/serve.py $(BENCH_ARGS)

.PHONY: lint
lint: $(VENV)/.dev ## ruff lint and format check, Django checks, missing migrations
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

.PHONY: format
format: $(VENV)/.dev ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: train
train: install ## train and register a new version of the SMS model (params.yaml)
	$(PY) manage.py train --config params.yaml

.PHONY: docs
docs: $(VENV)/.dev ## build the documentation site into site/
	$(BIN)/mkdocs build --strict

.PHONY: docs-serve
docs-serve: $(VENV)/.dev ## serve the documentation on http://127.0.0.1:8001
	$(BIN)/mkdocs serve -a 127.0.0.1:8001

.PHONY: simulate
simulate: setup ## write 24 h of demo predictions (last 6 h drifting) and their reports
	$(PY) manage.py simulate_traffic --model sms-spam --hours 24 --drift-hours 6
	$(PY) manage.py simulate_traffic --model breast-cancer --hours 24 --drift-hours 6 --seed 1

.PHONY: demo-retraining
demo-retraining: setup ## continuous training on the SMS model: a new spam campaign in labelled traffic → drift alert → retraining → a staging request for the reviewers
	$(PY) manage.py seed_retraining_policy --model sms-spam --production-days 1 --min-gap-minutes 0
	@# the demo runs its jobs in this process, so it works with or without `make run`
	CELERY_TASK_ALWAYS_EAGER=true $(PY) manage.py simulate_traffic --model sms-spam --hours 6 --drift-hours 3 --scenario new-spam --labels 0.6 --seed 7
	$(PY) manage.py retraining_runs --model sms-spam

.PHONY: screenshots
screenshots: $(VENV)/.dev ## refresh the monitoring and governance screenshots in docs/img (browser tests)
	MODELGATE_SCREENSHOTS=1 $(BIN)/pytest tests/monitoring/test_browser.py tests/governance/test_browser.py tests/governance/test_demo_retraining.py -q

.PHONY: walkthrough
walkthrough: $(VENV)/.dev ## every demo role's first hour in Chromium; screenshots to docs/img/walkthrough-*.png
	MODELGATE_SCREENSHOTS=1 MODELGATE_REQUIRE_BROWSER=1 $(BIN)/pytest tests/governance/test_role_walkthrough.py -q
	@# smaller files for the docs when pngquant is installed (Debian package pngquant)
	@if command -v pngquant >/dev/null; then pngquant --force --ext .png --quality 70-90 --skip-if-larger docs/img/walkthrough-*.png || true; fi

.PHONY: bench-edge
bench-edge: $(VENV)/.dev ## benchmark: a prediction in the browser (onnxruntime-web) vs a round trip to the server (Chromium, PostgreSQL)
	$(PY) bench/edge_latency.py $(BENCH_ARGS)

.PHONY: bench-drift
bench-drift: $(VENV)/.dev ## benchmark: Evidently DataDriftPreset vs Modelgate drift (10k-1M rows)
	$(PY) bench/drift.py

.PHONY: bench-dashboard
bench-dashboard: $(VENV)/.dev ## benchmark: dashboard server time with 1M logged predictions (PostgreSQL)
	$(PY) bench/dashboard.py

.PHONY: bench-scale
bench-scale: $(VENV)/.dev ## benchmark: the partitioned prediction log against one plain table at 20M rows (PostgreSQL; BENCH_ARGS="--rows 1000000")
	$(PY) bench/scale.py $(BENCH_ARGS)

.PHONY: compose-check
compose-check: $(VENV)/.dev ## pre-release check: build the image, run docker-compose.yml for real (docker or podman), smoke-test, restart, upgrade, tear down
	timeout --kill-after=60 3000 $(PY) deploy/compose_check.py $(COMPOSE_CHECK_ARGS)

.PHONY: lock
lock: $(BIN)/python ## refresh requirements.lock from a fresh resolve of pyproject.toml
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade "pip>=24"
	.lock-venv/bin/pip install --quiet -e ".[dev]"
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
	rm -rf .lock-venv

.PHONY: clean
clean: ## delete the local data folder (database, MLflow store, broker, reports)
	rm -rf $(DATA_DIR)
