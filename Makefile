# Two commands do all set-up on a fresh machine:  make run   and   make test
# Everything installs into .venv on first use; later runs skip the install unless pyproject.toml changed.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU-only torch wheel beside the repo on our build machines (absent elsewhere: then pip's default).
WHEELS := $(wildcard ../shared/wheels/constraints.txt)
PIP_ENV := $(if $(WHEELS),PIP_FIND_LINKS=$(abspath ../shared/wheels) PIP_CONSTRAINT=$(abspath $(WHEELS)),)
# Elsewhere, PyTorch's CPU index when it answers (PyPI's Linux torch is the multi-GB CUDA build).
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
# The corpus `make run` ingests: the project's own demo unless told otherwise (make run CORPUS=/path).
CORPUS ?= corpus/demo
export PATH := $(abspath $(BIN)):$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

# `gibsey ingest` refuses to drop stored canon pages the corpus lacks; INGEST_FLAGS=--replace allows it.
# A corpus named on the command line (make run CORPUS=...) is the book asked for: it replaces the stored one.
# The default demo never does, so a plain `make run` cannot wipe a canon ingested earlier.
INGEST_FLAGS ?= $(if $(filter command line environment,$(origin CORPUS)),--replace,)
.PHONY: install stack stack-down status schema topics ingest run test test-unit test-integration test-services bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Python dependencies into $(VENV) (first time: a few minutes, ~1.8 GB)"
	@if [ -z "$(WHEELS)" ] && curl -fsI --max-time 5 $(TORCH_CPU_INDEX)/torch/ >/dev/null 2>&1; then \
	  echo "torch: CPU build from $(TORCH_CPU_INDEX)"; \
	  $(BIN)/pip install --disable-pip-version-check -q --index-url $(TORCH_CPU_INDEX) torch; fi
	$(PIP_ENV) $(BIN)/pip install --disable-pip-version-check -q -e .
	@touch $(STAMP)

stack:
	localstack/up

stack-down:
	localstack/down

status:
	localstack/status

schema: install
	gibsey schema apply

topics: install
	gibsey topics create

ingest: install
	gibsey ingest $(CORPUS) $(INGEST_FLAGS)

run: install stack schema topics ingest
	honcho start

test: install stack test-unit test-integration test-services

test-unit: install
	pytest -q tests/unit

test-integration: install
	pytest -q tests/integration

# Nameko services need eventlet's monkey patching, which must not leak into the asyncio tests above,
# so they run in their own interpreter under `nameko test` (nameko's pytest wrapper that patches first).
test-services: install
	nameko test -q tests/services

bench: install stack
	bench/stack_start.sh
	python bench/page_reads.py

clean:
	rm -rf $(VENV) .pytest_cache
