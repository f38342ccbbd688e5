"""Benchmarks: the interleaving and data generators behave as documented, and a tiny full run
writes every figure (no timing assertions: only structure, pairing and sanity of the numbers)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fashion_search.bench import points, runner, timing


def test_interleaved_alternates_order_and_skips_warmup():
    calls = []
    samples = timing.interleaved({"a": lambda i: calls.append(("a", i)), "b": lambda i: calls.append(("b", i))},
                                 reps=3, warmup=1)
    assert calls == [("a", 0), ("b", 0),  # warm-up, untimed
                     ("a", 0), ("b", 0), ("b", 1), ("a", 1), ("a", 2), ("b", 2)]
    assert {k: len(v) for k, v in samples.items()} == {"a": 3, "b": 3}
    assert all(ms >= 0 for v in samples.values() for ms in v)


def test_paired_ratio_is_the_median_of_per_repetition_ratios():
    # Load doubled between repetitions 1 and 2: both sides slowed alike, the paired ratio stays 0.5.
    assert timing.paired_ratio([10.0, 5.0, 10.0], [20.0, 10.0, 20.0]) == 0.5
    assert timing.paired_ratio([1.0, 3.0, 2.0], [1.0, 1.0, 1.0]) == 2.0
    with pytest.raises(ValueError, match="unpaired"):
        timing.paired_ratio([1.0], [1.0, 2.0])


def test_latency_summary_and_ratio():
    summary = timing.latency_summary([1.0, 2.0, 3.0, 4.0, 100.0])
    assert summary["p50_ms"] == 3.0 and summary["n"] == 5 and summary["mean_ms"] == 22.0
    assert 4.0 < summary["p95_ms"] <= 100.0
    assert timing.ratio(3.0, 2.0) == 1.5
    with pytest.raises(ValueError, match="measurement failed"):
        timing.ratio(1.0, 0.0)


def test_point_generator_is_deterministic_clustered_and_filterable():
    first, second = points.PointGenerator(300, 32, seed=5), points.PointGenerator(300, 32, seed=5)
    (ids, vectors, payloads), = list(first.chunks(chunk=1000))
    (_, again, _), = list(second.chunks(chunk=1000))
    assert ids == list(range(1, 301)) and vectors.dtype == np.float32 and vectors.shape == (300, 32)
    np.testing.assert_array_equal(vectors, again)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Same articleType + colour -> much closer than unrelated products (the clustering is real).
    key = [(p["articleType"], p["baseColour"]) for p in payloads]
    sim = vectors @ vectors.T
    same = np.array([[a == b for b in key] for a in key]) & ~np.eye(300, dtype=bool)
    assert sim[same].mean() > sim[~same].mean() + 0.3
    for vector, filters in first.queries(20):
        assert vector.shape == (32,)
        gender, article = filters.values["gender"][0], filters.values["articleType"][0]
        assert any(p["gender"] == gender and p["articleType"] == article for p in first.pool)
    # with_boost: the same queries, plus the colour of the product each was drawn from
    for (vector, filters), (same_vector, same_filters, boost) in zip(first.queries(20), first.queries(20, with_boost=True)):
        assert np.array_equal(vector, same_vector) and same_filters == filters and boost[0][0] == "baseColour"
        assert any(p["gender"] == filters.values["gender"][0] and p["articleType"] == filters.values["articleType"][0]
                   and p["baseColour"] == boost[0][1] for p in first.pool)


def test_config_defaults_and_errors():
    quick = runner.BenchConfig(quick=True)
    assert quick.store_size_list == [2000] and quick.reps == 20 and quick.sections == "search,store,ingest,train"
    full = runner.BenchConfig(sections="train,search")
    assert full.store_size_list == [41154, 1_000_000] and full.sections == "search,train"
    with pytest.raises(ValueError, match="--torch-threads"):
        runner.BenchConfig(torch_threads=0)
    with pytest.raises(ValueError, match="choose from"):
        runner.BenchConfig(sections="search,gpu")
    with pytest.raises(ValueError, match="batches of --batch-size"):
        runner.BenchConfig(bench_products=10, batch_size=8)
    if not runner.torch.cuda.is_available():
        with pytest.raises(ValueError, match="needs CUDA"):
            runner.BenchConfig(gpu_arch="vit-b32")


def _finite_positive(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_tiny_bench_run_writes_every_section(tmp_path):
    from tiny_model import build_tiny_clip

    model = build_tiny_clip(tmp_path / "clip")
    out = tmp_path / "reports"
    argv = ["--quick", "--model", str(model), "--out-dir", str(out), "--store-sizes", "300,600",
            "--search-points", "300", "--reps", "6", "--local-reps", "2", "--bench-products", "16",
            "--batch-size", "4", "--section-reps", "1", "--num-workers", "0", "--store-dim", "32"]
    assert runner.main(argv) == 0
    report = json.loads((out / "bench.json").read_text())
    sections = report["sections"]
    assert set(sections) == {"search", "store", "ingest", "train"}
    search = sections["search"]
    assert search["points"] == 300 and search["end_to_end"]["n"] == 6 and search["encoder"]["n"] == 6
    assert math.isfinite(search["overhead_p50"]) and search["overhead_p50"] > -1
    assert math.isfinite(search["overhead_paired_median"]) and search["overhead_paired_median"] > -1
    assert search["encoder_one_thread"]["n"] == 6 and search["torch_threads_default"] >= 1
    assert runner.torch.get_num_threads() == search["torch_threads_default"]  # restored afterwards
    assert search["filter_click"]["n"] == 6 and search["boosted"]["n"] == 6
    assert math.isfinite(search["boosted_overhead_p50"]) and search["boosted_overhead_p50"] > -1
    assert search["boosted_queries"] == 6  # "men black casual shoes" + gender, type filters: Black is boosted
    for key in ("qps_4_clients", "qps_1_client", "qps_ratio_4_vs_1", "one_thread_speedup_p50",
                "filter_click_vs_encoder_p50"):
        assert _finite_positive(search[key]), key
    store = sections["store"]
    assert store["dim"] == 32 and store["quantization"] == "int8"
    assert store["edge_300"]["points"] == 300 and store["edge_600"]["filtered"]["n"] == 6
    assert _finite_positive(store["filtered_p50_ratio_600_vs_300"])
    assert _finite_positive(store["edge_600"]["filtered_vs_unfiltered_p50"])
    assert store["edge_600"]["boosted"]["n"] == 6 and _finite_positive(store["edge_600"]["boosted_vs_filtered_p50"])
    assert store["edge_vs_local_mode"]["points"] == 300 and _finite_positive(store["edge_vs_local_mode"]["edge_speedup_p50"])
    ingest = sections["ingest"]
    assert ingest["images"] == 16
    assert ingest["batch_size"] == 8  # --ingest-batch-size's quick default, not the train section's --batch-size 4
    for key in ("ingest_loop_images_per_s", "encoder_images_per_s", "loop_ratio", "job_ratio"):
        assert _finite_positive(ingest[key]), key
    train = sections["train"]
    assert train["steps_per_pass"] == 4 and _finite_positive(train["ratio"])
    # One repetition: the paired ratio is that repetition's ratio of rates.
    assert train["ratio"] == pytest.approx(train["trainer_samples_per_s"] / train["forward_backward_samples_per_s"])
    assert train["epoch_start_s"] >= 0
    figures = {row["figure"] for row in report["summary"]}
    assert "overhead p50 (end-to-end / encoder - 1)" in figures and len(report["summary"]) >= 13
    table = (out / "bench.md").read_text()
    assert table.count("\n| ") == len(report["summary"]) + 1  # header + one row per figure
