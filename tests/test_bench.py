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


def test_config_defaults_and_errors(tmp_path):
    quick = runner.BenchConfig(quick=True)
    assert quick.store_size_list == [2000] and quick.reps == 20
    assert quick.sections == "search,hybrid,store,ingest,ingest_words,ingest_tags,train,serve,text_encoder"
    assert quick.arch_list == ["model"]
    full = runner.BenchConfig(sections="train,search")
    assert full.store_size_list == [41154, 1_000_000] and full.sections == "search,train"
    assert full.arch_list == ["model", "vit-b32"]
    with pytest.raises(ValueError, match="--torch-threads"):
        runner.BenchConfig(torch_threads=0)
    with pytest.raises(ValueError, match="choose from"):
        runner.BenchConfig(sections="search,gpu")
    with pytest.raises(ValueError, match="batches of --batch-size"):
        runner.BenchConfig(bench_products=10, batch_size=8)
    with pytest.raises(ValueError, match="distinct entries"):
        runner.BenchConfig(archs="model,vit-b16")
    with pytest.raises(ValueError, match="distinct entries"):
        runner.BenchConfig(archs="model,model")
    with pytest.raises(ValueError, match="'model' entry of --archs"):
        runner.BenchConfig(archs="vit-b32", model=str(tmp_path))
    if not runner.torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            runner.BenchConfig(device="cuda")


def test_each_arch_gets_its_own_defaults_for_the_knobs_left_unset():
    cfg = runner.BenchConfig(reps=50, device="cpu", model=None)
    assert cfg.bench_products == 2048 and cfg.section_reps == 5 and cfg.train_steps == 16 and cfg.reps == 50
    vit = cfg.for_arch("vit-b32")
    assert vit.arch_list == ["vit-b32"] and vit.model is None
    assert vit.reps == 50  # given on the command line: kept
    assert (vit.bench_products, vit.section_reps, vit.train_steps, vit.batch_size) == (512, 2, 12, 8)  # on a CPU
    assert vit.store_size_list == [41154, 1_000_000] and vit.ingest_batch_size == 64
    model = cfg.for_arch("model")
    assert model.arch_list == ["model"] and (model.bench_products, model.section_reps, model.reps) == (2048, 5, 50)
    quick = runner.BenchConfig(quick=True, archs="model,vit-b32", device="cpu").for_arch("vit-b32")
    assert (quick.bench_products, quick.reps) == (32, 20)  # --quick wins over the full-size defaults


def _summary(value: float, met: bool) -> dict:
    return {"summary": [
        {"section": "search", "figure": "overhead p50", "value": value, "pair": f"{1 + value:.2f} vs 1 ms",
         "target": "<= 0.15", "met": met},
        {"section": "search", "figure": "added p50 ms", "value": 0.5, "pair": "", "target": "", "met": None},
        {"section": "train", "figure": "ratio", "value": 0.95, "pair": "", "target": ">= 0.90", "met": True},
    ]}


def test_target_rows_put_every_runs_verdict_side_by_side():
    from fashion_search.bench.report import target_rows

    small = _summary(0.58, False)
    small["summary"].pop()  # this run skipped the train section
    rows = target_rows({"model": small, "vit-b32": _summary(0.10, True)})
    assert [(r["section"], r["figure"], r["target"]) for r in rows] == [
        ("search", "overhead p50", "<= 0.15"), ("train", "ratio", ">= 0.90")]  # untargeted figures left out
    assert rows[0]["by_arch"] == {"model": {"value": 0.58, "pair": "1.58 vs 1 ms", "met": False},
                                  "vit-b32": {"value": 0.10, "pair": "1.10 vs 1 ms", "met": True}}
    assert rows[1]["by_arch"] == {"vit-b32": {"value": 0.95, "pair": "", "met": True}}


def _finite_positive(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_tiny_bench_run_writes_every_section(tmp_path):
    from tiny_model import build_tiny_clip

    model = build_tiny_clip(tmp_path / "clip")
    out = tmp_path / "reports"
    argv = ["--quick", "--model", str(model), "--out-dir", str(out), "--store-sizes", "300,600",
            "--search-points", "300", "--reps", "6", "--local-reps", "2", "--bench-products", "16",
            "--batch-size", "4", "--section-reps", "1", "--num-workers", "0", "--store-dim", "32",
            "--sections", "search,store,ingest,train"]  # serve, text_encoder: their own test files
    assert runner.main(argv) == 0
    bench = json.loads((out / "bench.json").read_text())
    assert list(bench["runs"]) == ["model"]  # --quick: the model under test only
    report = bench["runs"]["model"]
    assert report["model"] == {"name": str(model), "source": "given", "dim": 16}
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
    assert search["hybrid"]["n"] == 6 and _finite_positive(search["hybrid_vs_image_p50"])
    assert search["hybrid_met"] == (search["hybrid_vs_image_p50"] <= search["hybrid_target"])
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
    # Targeted figures: search overhead, ingest and train ratios (300/600-point stores have no target).
    assert [(row["section"], set(row["by_arch"])) for row in bench["targets"]] == [
        ("search", {"model"}), ("search", {"model"}), ("ingest", {"model"}), ("train", {"model"})]
    assert bench["targets"][0]["by_arch"]["model"]["met"] == search["overhead_met"]
    table = (out / "bench.md").read_text()
    # The targets table (header + 4 rows: overhead, hybrid, ingest, train), then the run's table.
    assert table.count("\n| ") == 1 + 4 + 1 + len(report["summary"])


def _tiny_vit_config():
    """A CLIPConfig of the ViT-B/32 run's shape (CLIP vocabulary, 77 tokens), shrunk to build in a moment."""
    from transformers import CLIPConfig

    from fashion_search.model.clip import BOS_ID, EOS_ID, PAD_ID

    layer = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    return CLIPConfig(text_config={**layer, "vocab_size": 49408, "pad_token_id": PAD_ID, "bos_token_id": BOS_ID,
                                   "eos_token_id": EOS_ID},
                      vision_config={**layer, "image_size": 32, "patch_size": 16}, projection_dim=24)


def test_bench_of_two_archs_reports_both_verdicts_side_by_side(tmp_path, monkeypatch):
    from tiny_model import build_tiny_clip

    monkeypatch.setattr(runner, "vit_b32_config", _tiny_vit_config)
    model = build_tiny_clip(tmp_path / "clip")
    out = tmp_path / "reports"
    argv = ["--quick", "--archs", "model,vit-b32", "--model", str(model), "--sections", "search", "--device", "cpu",
            "--out-dir", str(out), "--search-points", "200", "--reps", "4", "--section-reps", "1"]
    assert runner.main(argv) == 0
    bench = json.loads((out / "bench.json").read_text())
    runs = bench["runs"]
    assert list(runs) == ["model", "vit-b32"]
    assert runs["model"]["model"] == {"name": str(model), "source": "given", "dim": 16}
    assert runs["vit-b32"]["model"]["source"] == "vit-b32 random init" and runs["vit-b32"]["model"]["dim"] == 24
    assert runs["vit-b32"]["sections"]["search"]["dim"] == 24  # its own store, at its own width
    overhead, hybrid = bench["targets"]
    assert hybrid["figure"].startswith("hybrid") and set(hybrid["by_arch"]) == {"model", "vit-b32"}
    for arch, run in runs.items():
        search = run["sections"]["search"]
        assert overhead["by_arch"][arch] == {
            "value": search["overhead_p50"], "met": search["overhead_met"],
            "pair": f"{search['end_to_end']['p50_ms']:.3g} vs {search['encoder']['p50_ms']:.3g} ms"}
    table = (out / "bench.md").read_text()
    assert "| search | overhead p50 (end-to-end / encoder - 1) | <= 0.15 | " in table
    assert "model under test, 16-d | ViT-B/32 architecture (the default model's), 24-d |" in table
