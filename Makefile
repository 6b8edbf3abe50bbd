# consent-sync: everything a developer or CI needs, from nothing but Python >= 3.11 and pip.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help venv run test test-lambda-python lint typecheck cfn-lint sam-validate unit integration e2e bench chaos simulator local-up clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-20s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "consent-sync needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP) ## create .venv with the pinned dependencies

run: $(STAMP) ## the main job, locally: moto + the SuperOffice simulator
	$(BIN)/consent-sync demo

test: $(STAMP) lint typecheck cfn-lint ## the whole test suite (lint, types, template, unit, integration, e2e)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope

# Optional: the same tests on the Lambda runtime's Python, where a python3.13 is installed.
LAMBDA_PYTHON ?= python3.13
test-lambda-python: ## the tests on Python 3.13 (the Lambda runtime), in .venv-3.13
	@command -v $(LAMBDA_PYTHON) >/dev/null || { echo "$(LAMBDA_PYTHON) not found: set LAMBDA_PYTHON=/path/to/python3.13"; exit 1; }
	$(LAMBDA_PYTHON) -m venv .venv-3.13
	.venv-3.13/bin/python -m pip install --quiet -r requirements.lock
	.venv-3.13/bin/python -m pip install --quiet --no-deps -e .
	.venv-3.13/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope

lint: $(STAMP) ## ruff
	$(BIN)/ruff check functions devtools tests
	$(BIN)/ruff format --check functions devtools tests

typecheck: $(STAMP) ## mypy
	$(BIN)/mypy

cfn-lint: $(STAMP) ## validate template.yaml
	$(BIN)/cfn-lint template.yaml

# Optional: the whole SAM CLI (~340 MB, pins its own boto3) in .venv-sam. `make test` runs the SAM
# translator that `sam validate` runs (tests/integration/template) and cfn-lint, without the CLI.
SAM_CLI_VERSION ?= 1.170.0
sam-validate: ## sam validate --lint with the SAM CLI, in .venv-sam
	@test -x .venv-sam/bin/sam || { $(PYTHON) -m venv .venv-sam && .venv-sam/bin/python -m pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION); }
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=eu-west-1 AWS_ACCESS_KEY_ID=validate AWS_SECRET_ACCESS_KEY=validate .venv-sam/bin/sam validate --lint --template-file template.yaml

unit: $(STAMP) ## unit tests only
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP) ## integration tests only
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope tests/integration

e2e: $(STAMP) ## end-to-end tests through the CLI
	$(BIN)/python -m pytest tests/e2e

bench: $(STAMP) ## benchmarks: print figures, write bench/results/*.json
	$(BIN)/python -m devtools.bench

chaos: $(STAMP) ## fault injection: 5xx, 429, timeouts, an outage, a worker crash, duplicates, poison; checks convergence
	$(BIN)/python -m devtools.chaos

simulator: $(STAMP) ## the SuperOffice simulator alone, on :8080
	$(BIN)/consent-sync simulator --port 8080

local-up: $(STAMP) ## the local AWS stack (moto + event routing from template.yaml), foreground
	$(BIN)/consent-sync local up

clean: ## remove the virtualenvs and caches
	rm -rf $(VENV) .venv-sam .venv-sam-translator .venv-3.13 .pytest_cache .mypy_cache .ruff_cache .hypothesis
