"""Benchmarks (`make bench`): every figure a ratio or a pair measured side by side in one run.

    python -m fashion_search.bench [--quick] [--sections search,hybrid,store,ingest,ingest_words,ingest_tags,train]
                                   [--model DIR] [--archs model,vit-b32]

Machines are noisy, so the two sides of each comparison are interleaved (A, B, B, A, ...) rather
than measured one after the other; see timing.py. Sections: search.py, hybrid.py, store.py, ingest.py,
ingest_words.py, ingest_tags.py, train.py, serve.py, text_encoder.py; config.py holds the one config, runner.py runs
the sections once per architecture (the model under test, and the product's default ViT-B/32 randomly
initialised) and writes reports/bench.json + bench.md.
"""
