# Every target depends on the virtual environment, so on a fresh machine `make demo` or `make test`
# is all a person types. Variables: DATA (catalog path; default: resolved by fashion_search.catalog.datasets),
# MODEL (train: small | HF id | dir; ingest/ui/eval: a model dir), STORE (.qdrant | http(s)://...), ARGS.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# CPU wheel by default. GPU users: make install TORCH_INDEX="--index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=

DATA ?=
MODEL ?= small
RUN_DIR ?= runs/$(notdir $(MODEL))
MODEL_DIR ?= $(RUN_DIR)/best
STORE ?= .qdrant
SPLITS ?= $(RUN_DIR)/splits.json
ARGS ?=
# How `make train` launches: add e.g. LAUNCH="--num_processes 4" or rely on `accelerate config`.
# accelerate launch pins each process to 1 CPU thread unless told otherwise: on a CPU-only machine that
# halves a single-process run (measured: 1.15 vs 2 steps/s on 2 cores), so give it the machine's cores.
CPU_THREADS ?= $(shell nproc 2>/dev/null || echo 1)
LAUNCH ?= --num_cpu_threads_per_process $(CPU_THREADS)

export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

# The catalog a bare target uses: DATA, else one already on disk, else a download, else synthetic.
RESOLVE_CATALOG = $(PY) -m fashion_search.catalog.datasets resolve $(if $(DATA),--data "$(DATA)")

.PHONY: install test test-fast demo data synthetic stats train ingest ui eval bench clean snapshot restore

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_SPEC) $(TORCH_INDEX)
	$(PIP) install -q -e ".[dev]"
	touch $@

test: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-fast: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not slow and not browser"

demo: install
	$(PY) -m fashion_search.demo $(if $(DATA),--data "$(DATA)") --store $(STORE) $(ARGS)

data: install
	$(PY) -m fashion_search.catalog.datasets download

synthetic: install
	$(PY) -m fashion_search.catalog.synthetic $(or $(DATA),data/synthetic-$(or $(N),10000)) --n $(or $(N),10000) --seed 0

stats: install
	catalog=$$($(RESOLVE_CATALOG)) && $(PY) -m fashion_search.catalog stats "$$catalog"

train: install
	catalog=$$($(RESOLVE_CATALOG)) && \
	$(VENV)/bin/accelerate launch $(LAUNCH) train/train.py --model $(MODEL) --catalog "$$catalog" \
	    --output_dir $(RUN_DIR) $(ARGS)

ingest: install
	catalog=$$($(RESOLVE_CATALOG)) && \
	$(PY) ingest/ingest.py --model $(MODEL_DIR) --catalog "$$catalog" --store $(STORE) $(ARGS)

# Backup and restore of the served index version (docs/sync.md): make snapshot; make restore SNAPSHOT=FILE
snapshot: install
	$(PY) -m fashion_search.store.manage snapshot --store $(STORE) $(ARGS)

restore: install
	$(PY) -m fashion_search.store.manage restore --store $(STORE) --snapshot "$(SNAPSHOT)" $(ARGS)

ui: install
	QDRANT_PATH=$(STORE) $(PY) -m streamlit run search_ui/app.py --server.address localhost --server.port 8501 \
	    --server.headless true --browser.gatherUsageStats false --client.toolbarMode viewer -- \
	    $(if $(DATA),--catalog "$(DATA)") $(ARGS)

eval: install
	catalog=$$($(RESOLVE_CATALOG)) && \
	$(PY) -m fashion_search.evaluation --model $(MODEL_DIR) --data "$$catalog" $(ARGS)

bench: install
	$(PY) -m fashion_search.bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache reports/tmp
