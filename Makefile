# The two commands: `make run` (the gateway on embedded defaults) and
# `make test` (every test against real MariaDB, Redis, Kafka and localstripe).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-dev
# Tests use their own Redis databases, apart from the development ones in
# scripts/services.env, and fail (never skip) when a service is missing.
# The dj-stripe mirror is installed but lazy (nothing mirrors after a change),
# so that only its own tests (stripe_integration/mirror/tests/) queue batches.
TEST_ENV := REDIS_URL=redis://127.0.0.1:6379/2 CELERY_BROKER_URL=redis://127.0.0.1:6379/3 REQUIRE_SERVICES=1 DJSTRIPE_MIRROR=lazy
PYTEST_ARGS ?=

.PHONY: help venv run test test-fast test-tracing simulate simulate-mutants test-fresh services services-down services-status cluster cluster-down cluster-status chaos kafka-up tracing lock \
        fmt lint build clean docker-run manage migrate bench bench-go soak profile fuzz reliability

help:
	@echo "make run            serve the gateway on 127.0.0.1:8085 (SQLite, localstripe)"
	@echo "make test           start the real services, then run every test against them"
	@echo "make test-fast      the unit tests and the simulation, no service (SQLite, the fake PSP)"
	@echo "make simulate       random simulation runs for SIM_SECONDS (120); prints the seed to replay"
	@echo "make simulate-mutants  each hand-written mutant of the money code must be caught" 
	@echo "make services       install and start MariaDB, Redis, Kafka, localstripe, Celery"
	@echo "make services-down  stop the services that 'make services' started (and the cluster)"
	@echo "make services-status  one line per process; scripts/services.sh start|stop|restart|kill NAME for one"
	@echo "make cluster        3 Kafka brokers, 3 gateways behind HAProxy, 2 worker nodes, 1 beat"
	@echo "make tracing        Jaeger on demand: OTLP/HTTP in on :4318, traces on http://127.0.0.1:16686"
	@echo "make chaos          kill nodes of each kind under load; nothing lost, nothing doubled"
	@echo "make manage ARGS=.. manage.py with the settings of the last make run"
	@echo "make lint / fmt     ruff, and validate docker/compose.yaml"

# The whole dependency tree, transitive packages included, pinned with hashes
# (requirements/lock/, made from requirements/*.txt by `make lock`).
# uv installs it (requirements/lock/tools.txt, itself hash-checked by pip).
$(STAMP): requirements/lock/dev.txt requirements/lock/tools.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r requirements/lock/tools.txt
	$(VENV)/bin/uv pip install --python $(PY) -q --require-hashes -r requirements/lock/dev.txt
	@touch $@

venv: $(STAMP)

# make run needs only requirements/lock/run.txt: on a fresh machine it starts
# before the development tree would have been installed.
RUN_STAMP := $(VENV)/.requirements-run
$(RUN_STAMP): requirements/lock/run.txt requirements/lock/tools.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r requirements/lock/tools.txt
	$(VENV)/bin/uv pip install --python $(PY) -q --require-hashes -r requirements/lock/run.txt
	@touch $@

run: $(RUN_STAMP)
	scripts/run.sh

# Every process of `make services` and `make cluster` runs under one supervisord,
# defined once in scripts/stack/programs.py; scripts/services.sh is the one command
# (up, down, status, start|stop|restart|kill NAME). docs/adr/0008-process-supervisor.md.
services: venv
	scripts/services.sh up

services-down:
	scripts/services.sh down

services-status:
	scripts/services.sh status

# The gateway as a cluster on loopback: 3 Kafka brokers, 3 gateway servers behind
# HAProxy, two worker nodes, one beat; on the services of `make services`.
cluster: services
	scripts/services.sh cluster

cluster-down:
	scripts/services.sh cluster-down

cluster-status:
	scripts/services.sh status cluster

# Jaeger v2 (scripts/stack/jaeger.yaml), a real trace receiver, on demand: OTLP/HTTP in
# on 127.0.0.1:4318, traces in memory, the UI and query API on 127.0.0.1:16686. Built
# once per checkout (minutes with cold Go caches). Then point the gateway at it:
# OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 (docs/tracing.md).
tracing: venv
	scripts/services.sh start jaeger

# Payments and refunds through the cluster while a broker, a gateway, a relay
# worker and Redis fail in turn; rewrites the cluster section of docs/RELIABILITY.md.
CHAOS_ARGS ?=
chaos: cluster
	$(PY) scripts/chaos.py $(CHAOS_ARGS)

# The seed's name for "start Kafka and its dependencies".
kafka-up: services

# After the suite, scripts/scan_card_data.py looks for card data in every log
# record of the run, the service logs, the databases and Kafka.
# The simulation (logic against the fake PSP, no service to prove) runs on
# SQLite beside the real suite, on its fixed programs and seeds (on the other
# core: the real suite mostly waits on its services); not when PYTEST_ARGS
# picks tests. The cluster (make cluster) is started by the one test that
# needs it, and stopped after it, so that it takes no core from the rest.
test: services
	mkdir -p .test-artifacts && rm -f .test-artifacts/pytest-log.txt .test-artifacts/simulation.*
	set -a && . scripts/services.env && set +a && \
	  if [ -z "$(PYTEST_ARGS)" ]; then \
	    ( $(NO_SERVICES) $(VENV)/bin/pytest $(FAST_ARGS) -m simulation >.test-artifacts/simulation.log 2>&1; \
	      echo $$? >.test-artifacts/simulation.rc ) & \
	  fi; \
	  env $(TEST_ENV) $(VENV)/bin/pytest -m "not simulation and not tracing_receiver" --log-file=.test-artifacts/pytest-log.txt \
	    --log-file-level=INFO --durations=25 $(PYTEST_ARGS); real=$$?; wait; \
	  if [ -z "$(PYTEST_ARGS)" ]; then \
	    echo "--- the simulation (.test-artifacts/simulation.log) ---"; tail -n 5 .test-artifacts/simulation.log; \
	    simulation=$$(cat .test-artifacts/simulation.rc); \
	  else simulation=0; fi; \
	  [ $$real -eq 0 ] && [ $$simulation -eq 0 ] && $(PY) scripts/scan_card_data.py

# The trace read back from a real receiver (Jaeger, docs/tracing.md). Not in
# `make test`: Jaeger is built from source, ~14 minutes on a fresh machine.
test-tracing: services
	set -a && . scripts/services.env && set +a && \
	  env $(TEST_ENV) $(VENV)/bin/pytest -m tracing_receiver $(PYTEST_ARGS)

# The inner loop: the tests marked `fast` (unit tests, the exactly-once
# regressions and the simulation against the fake PSP) with no service at all:
# SQLite in memory, tables made from the models (no migrations), a local-memory
# cache, Celery in-process. Any service variable of the shell is dropped.
NO_SERVICES := env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL -u KAFKA_BROKERS -u REQUIRE_SERVICES \
	-u STRIPE_API_BASE -u STRIPE_SECRET_KEY DJANGO_DEBUG=true DJSTRIPE_MIRROR=off
FAST_ARGS := -m fast --no-migrations -p no:cacheprovider -q
test-fast: venv
	$(NO_SERVICES) $(VENV)/bin/pytest $(FAST_ARGS) $(PYTEST_ARGS)

# Random programs for SIM_SECONDS (SIM_SEED=n replays from seed n); a failure
# prints its seed and its shrunk steps. Figures into docs/RELIABILITY.md.
SIM_SECONDS ?= 120
simulate: venv
	mkdir -p .test-artifacts
	set -o pipefail && $(NO_SERVICES) SIM_SECONDS=$(SIM_SECONDS) $(VENV)/bin/pytest $(FAST_ARGS) -s \
	  gateway/tests/simulation/test_simulation.py::test_simulation 2>&1 | tee .test-artifacts/simulate.txt
	SIM_SECONDS=$(SIM_SECONDS) $(PY) -m gateway.tests.simulation.report .test-artifacts/simulate.txt

# Each mutant of gateway/tests/simulation/mutants.py applied in turn; the
# simulation's default run must catch every one. The table into docs/RELIABILITY.md.
simulate-mutants: venv
	$(PY) -m gateway.tests.simulation.mutants $(MUTANTS)

# A longer Schemathesis run than the bounded one in `make test` (gateway/tests/scenarios/test_fuzz_schema.py).
FUZZ_EXAMPLES ?= 500
fuzz: services
	set -a && . scripts/services.env && set +a && \
	  env $(TEST_ENV) FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 $(VENV)/bin/pytest gateway/tests/scenarios/test_fuzz_schema.py -q

# docs/RELIABILITY.md, from a run of the reliability tests (scripts/reliability_report.py).
reliability: services
	set -a && . scripts/services.env && set +a && \
	  env $(TEST_ENV) $(PY) scripts/reliability_report.py

# A benchmark, not a test: numbers into docs/bench/ (scripts/bench.py).
bench: services
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	$(PY) scripts/bench.py $(BENCH_ARGS)

# The gateway side by side with the Go seed it replaces (issue #28), built and
# started outside this repository (docs/bench/README.md, "Side by side with the Go
# seed"); the services must be up. BENCH_GO_ARGS="--go-pid N --go-payment-id ID ...".
BENCH_GO_ARGS ?=
bench-go: venv
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	$(PY) scripts/bench_side_by_side.py $(BENCH_GO_ARGS)

# A bounded soak (default 10 minutes at 40 req/s, loopback only): queues, outbox,
# event delay, RSS, fds and connections every 30 s into docs/bench/ (scripts/soak.py).
SOAK_ARGS ?=
soak: services
	$(PY) scripts/soak.py $(SOAK_ARGS)

# Where one endpoint's time goes, in-process with pyinstrument (scripts/profile_payment.py).
profile: services
	$(PY) scripts/profile_payment.py $(PROFILE_ARGS)

# Drops and recreates the test database instead of reusing it.
test-fresh:
	$(MAKE) test PYTEST_ARGS="--create-db $(PYTEST_ARGS)"

# requirements/*.txt name what we depend on; requirements/lock/*.txt pin the
# whole tree with hashes. Run after changing a requirements file.
LOCK_OPTS := --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu --quiet
lock: venv
	$(VENV)/bin/uv pip compile requirements/tools.txt $(LOCK_OPTS) -o requirements/lock/tools.txt
	$(VENV)/bin/uv pip compile requirements/base.txt $(LOCK_OPTS) -o requirements/lock/base.txt
	$(VENV)/bin/uv pip compile requirements/mysql.txt $(LOCK_OPTS) -o requirements/lock/mysql.txt
	$(VENV)/bin/uv pip compile requirements/dev.txt -c requirements/lock/base.txt $(LOCK_OPTS) -o requirements/lock/dev.txt
	$(VENV)/bin/uv pip compile requirements/run.txt -c requirements/lock/dev.txt $(LOCK_OPTS) -o requirements/lock/run.txt

# manage.py with the settings of the running `make run` (scripts/manage.sh):
#   make manage ARGS="refund_payment pay_… --amount 10.00"
manage: venv
	scripts/manage.sh $(ARGS)

migrate: venv
	DJANGO_DEBUG=true $(PY) manage.py migrate

fmt: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/deptry . --requirements-files requirements/base.txt,requirements/mysql.txt \
	  --requirements-files-dev requirements/dev.txt
	$(VENV)/bin/vulture  # paths, exclusions and framework names: pyproject.toml [tool.vulture]
	scripts/compose_config.sh
	scripts/k8s_validate.sh
	$(PY) scripts/docker_context_check.py
	$(PY) scripts/security_lint.py

build: venv
	DJANGO_DEBUG=true $(PY) manage.py check
	DJANGO_DEBUG=true $(PY) manage.py collectstatic --noinput -v0

docker-run:
	docker compose -f docker/compose.yaml up --build

clean:
	rm -rf staticfiles .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +
