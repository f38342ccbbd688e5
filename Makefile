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
# The photo tagger `make tagger` trains (on the CLIP run's splits). Once trained, `make ingest` stores its tags
# and `make eval` tags its stores with it; TAGGER=DIR picks another, TAGGER= goes without.
TAGGER_DIR ?= runs/tagger
TAGGER ?= $(if $(wildcard $(TAGGER_DIR)/tagger.json),$(TAGGER_DIR))
ARGS ?=
# How `make train` launches: add e.g. LAUNCH="--num-processes 4" or rely on `accelerate config`.
# accelerate launch pins each process to 1 CPU thread unless told otherwise: on a CPU-only machine that
# halves a single-process run (measured: 1.15 vs 2 steps/s on 2 cores), so give it the machine's cores.
CPU_THREADS ?= $(shell nproc 2>/dev/null || echo 1)
LAUNCH ?= --num-cpu-threads-per-process $(CPU_THREADS)

export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

# The catalog a bare target uses: DATA, else one already on disk, else a download, else synthetic.
RESOLVE_CATALOG = $(PY) -m fashion_search.catalog.datasets resolve $(if $(DATA),--data "$(DATA)")

.PHONY: install lint test test-fast demo data synthetic stats train tagger ingest ui search serve eval bench clean \
	export-onnx snapshot restore

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_SPEC) $(TORCH_INDEX)
	$(PIP) install -q -e ".[dev]"
	touch $@

lint: install
	$(VENV)/bin/ruff check .

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
	    --output-dir $(RUN_DIR) $(ARGS)

# Detail words read off the photos (docs/tagging.md): ~21 s an epoch, ~4.5 min in all, on two CPU cores; a killed run
# goes on with ARGS="--resume latest".
tagger: install
	catalog=$$($(RESOLVE_CATALOG)) && \
	$(PY) train/train_tagger.py --catalog "$$catalog" --output-dir $(TAGGER_DIR) \
	    $(if $(wildcard $(SPLITS)),--splits $(SPLITS)) $(ARGS)

ingest: install
	catalog=$$($(RESOLVE_CATALOG)) && \
	$(PY) ingest/ingest.py --model $(MODEL_DIR) --catalog "$$catalog" --store $(STORE) \
	    $(if $(TAGGER),--tagger $(TAGGER)) $(ARGS)

# Backup and restore of the served index version (docs/sync.md): make snapshot; make restore SNAPSHOT=FILE
snapshot: install
	$(PY) -m fashion_search.store.manage snapshot --store $(STORE) $(ARGS)

restore: install
	$(PY) -m fashion_search.store.manage restore --store $(STORE) --snapshot "$(SNAPSHOT)" $(ARGS)

ui: install
	QDRANT_PATH=$(STORE) $(PY) -m streamlit run search_ui/app.py --server.address localhost --server.port 8501 \
	    --server.headless true --browser.gatherUsageStats false --client.toolbarMode viewer \
	    --client.showErrorDetails none -- $(if $(DATA),--catalog "$(DATA)") $(ARGS)

# The search API (docs/service.md). Beyond localhost it needs SEARCH_API_KEY, e.g. HOST=0.0.0.0 SEARCH_API_KEY=...
HOST ?= localhost
PORT ?= 8000
serve: install
	QDRANT_PATH=$(STORE) $(PY) -m fashion_search.service --host $(HOST) --port $(PORT) \
	    $(if $(DATA),--catalog "$(DATA)") $(ARGS)

# Ranked as the page ranks. STORE and MODEL_DIR count only when given (else QDRANT_URL/QDRANT_PATH, and the
# model the collection records, falling back to MODEL_DIR's default); @ keeps stdout clean for --json.
search: install
	@$(if $(Q)$(findstring --queries,$(ARGS)),,$(error Q is required: make search Q="striped t-shirt" [ARGS="--json"], or ARGS="--queries FILE"))
	@$(PY) -m fashion_search.query.cli $(if $(Q),--query '$(subst ','\'',$(Q))') \
	    $(if $(filter command line environment,$(origin STORE)),--store "$(STORE)") \
	    $(if $(filter command line environment,$(origin MODEL_DIR)),--model,--fallback-model) "$(MODEL_DIR)" $(ARGS)

eval: install
	catalog=$$($(RESOLVE_CATALOG)) && \
	$(PY) -m fashion_search.evaluation --model $(MODEL_DIR) --data "$$catalog" $(if $(TAGGER),--tagger $(TAGGER)) $(ARGS)

# The text tower as ONNX (float32 + int8) in $(MODEL_DIR)/onnx/, for --text-encoder onnx|onnx-int8 (docs/onnx.md).
export-onnx: install
	$(PY) -m fashion_search.model.onnx_export --model $(MODEL_DIR) $(ARGS)

bench: install
	$(PY) -m fashion_search.bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache reports/tmp
