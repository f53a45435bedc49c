# Chargewatch developer commands. `make run` and `make test` are all a fresh machine needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
INSTALLED := $(VENV)/.installed
SAM_INSTALLED := $(SAM_VENV)/.installed
LAYER_REQUIREMENTS := layers/common/python/requirements.txt layers/engine/python/requirements.txt

.PHONY: install run test test-fast lint validate bench eval openapi demo clean

$(INSTALLED): requirements-dev.txt constraints.txt pyproject.toml $(LAYER_REQUIREMENTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

# aws-sam-cli pins many libraries of its own: it gets a virtualenv of its own.
$(SAM_INSTALLED): requirements-sam.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q -r requirements-sam.txt
	@touch $@

install: $(INSTALLED)

## run: start the local emulator (moto on 127.0.0.1:4566, the API on 127.0.0.1:$${PORT:-3000})
run: $(INSTALLED)
	$(BIN)/chargewatch run

## lint: ruff (format check and lint), mypy (strict on the layers) and the import contracts; see pyproject.toml
lint: $(INSTALLED)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two workers (xdist); --dist loadfile keeps each file on one worker, so a file's module-scoped
# fixtures (an emulator, a trained model) are built once. Each worker builds its moto stack once.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

## test: lint, template checks and the whole test suite, offline (see docs/performance.md, "Test suite")
test: lint validate
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

## test-fast: unit and service-level tests (no API gateway, no emulator): under a minute
test-fast: $(INSTALLED)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not http and not slow"

validate: $(INSTALLED) $(SAM_INSTALLED)
	$(BIN)/cfn-lint template.yaml
	$(SAM_VENV)/bin/sam validate --lint --template template.yaml --region eu-west-1

## bench: benchmarks that print numbers (see docs/performance.md)
bench: $(INSTALLED)
	$(BIN)/python tests/perf/bench_imports.py
	$(BIN)/python tests/perf/bench_api.py
	$(BIN)/python tests/perf/bench_write_cost.py
	$(BIN)/python tests/perf/bench_engine.py
	$(BIN)/python tests/perf/bench_stations.py
	$(BIN)/python tests/perf/bench_batch.py --sessions 1000

## eval: engine quality on labelled synthetic data (see docs/engine.md)
## demo: with `make run` running (another terminal), fill it with a realistic tenant (docs/local-development.md)
demo: $(INSTALLED)
	$(BIN)/chargewatch demo

eval: $(INSTALLED)
	$(BIN)/python -m chargewatch_tools.eval
	$(BIN)/python -m chargewatch_tools.eval.shade
	$(BIN)/python -m chargewatch_tools.eval.shade --fleet field
	$(BIN)/python -m chargewatch_tools.eval.shade --fleet field --no-calendar

## openapi: regenerate docs/openapi.json from the resolvers
openapi: $(INSTALLED)
	$(BIN)/python -m chargewatch_tools.openapi --write

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam build *.egg-info
