#!/usr/bin/env bash
# A prepared GPU run of `make bench`'s ingest and train sections, for a GPU machine without internet
# access (about 6 minutes on one H200-class GPU; a fresh machine takes 1-2 more to start).
#
#   on a machine with PyPI (once):   bash scripts/gpu_bench.sh prepare     # wheels into .whl/
#   on the GPU machine:              bash scripts/gpu_bench.sh run         # carry .whl/ along; OUT=dir
#   dry run on a CPU:                DEVICE=cpu BATCHES="16 8" PRODUCTS=64 STEPS=2 WORKERS=1 bash scripts/gpu_bench.sh run
#
# What `run` measures, on a randomly initialised ViT-B/32 (no weights can be fetched there) in bf16:
#   1. the largest per-device training batch that fits (forward + backward of the trainer's loss on
#      the GPU's memory, tried from the top of $BATCHES down);
#   2. `python -m fashion_search.bench --archs vit-b32 --sections ingest,train` at that batch:
#      ingest images/s vs the image encoder alone (clip-retrieval: ~2,500 img/s per A100) and the
#      trainer's samples/s vs forward+backward on pre-made tensors (open_clip: ~770 samples/s per A100).
# Results land in $OUT (bench.json, bench.md, batch_probe.json, log.txt); ../shared does not travel,
# so both sections use the bench's synthetic catalog.
set -euo pipefail
cd "$(dirname "$0")/.."

# Versions this project pins that the device image lacks or has older (its own torch, accelerate,
# safetensors, pandas, pyarrow, pillow and tqdm are used as they are).
WHEELS="qdrant-edge-py==0.9.0 transformers==5.23.0 tokenizers==0.23.3 huggingface-hub==2.4.0"

prepare() {
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    rm -rf .whl && mkdir -p .whl
    # shellcheck disable=SC2086
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl $WHEELS
    du -sh .whl && ls .whl
}

run() {
    local out="${OUT:-reports/gpu}" device="${DEVICE:-cuda}"
    mkdir -p "$out"
    if compgen -G ".whl/*.whl" > /dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
        export PYTHONPATH="/tmp/site:$PWD"
    else
        export PYTHONPATH="$PWD"
    fi
    export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
    {
        date -u
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
        python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
        # 1. largest batch that fits: the trainer's DualEncoder loss, bf16 autocast, AdamW step.
        local batch
        batch=$(python3 scripts/gpu_batch_probe.py --device "$device" --batches ${BATCHES:-2048 1024 512 256} \
                --out "$out/batch_probe.json")
        echo "per-device batch: $batch"
        # 2. the bench at that batch; ingest uses the same batch (bigger batches keep the GPU fed).
        local steps="${STEPS:-12}" products="${PRODUCTS:-0}"
        [ "$products" -gt 0 ] || products=$((batch * steps))
        python3 -m fashion_search.bench --archs vit-b32 --device "$device" --sections ingest,train \
            --batch-size "$batch" --ingest-batch-size "$batch" --train-steps "$steps" \
            --bench-products "$products" --num-workers "${WORKERS:-12}" --section-reps 2 --out-dir "$out"
        date -u
    } 2>&1 | tee "$out/log.txt"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: bash scripts/gpu_bench.sh prepare|run" >&2; exit 2 ;;
esac
