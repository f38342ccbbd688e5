"""Benchmarks (`make bench`): every figure a ratio or a pair measured side by side in one run.

    python -m fashion_search.bench [--quick] [--sections search,store,ingest,train] [--model DIR]

Machines are noisy, so the two sides of each comparison are interleaved (A, B, B, A, ...) rather
than measured one after the other; see timing.py. Sections: search.py, store.py, ingest.py, train.py;
runner.py parses the config, resolves the model and writes reports/bench.json + bench.md.
"""
