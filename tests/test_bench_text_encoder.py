"""`make bench`'s text_encoder section: torch vs ONNX float32 vs int8, interleaved, one thread."""

import json
import math

from tiny_model import build_tiny_clip

from fashion_search.bench import runner
from fashion_search.bench.text_encoder import bench_queries
from fashion_search.model.onnx_text import onnx_dir


def test_text_encoder_section_reports_ratios_cosines_and_verdicts(tmp_path):
    model = build_tiny_clip(tmp_path / "clip")
    out = tmp_path / "reports"
    threads_before = runner.torch.get_num_threads()
    argv = ["--quick", "--model", str(model), "--out-dir", str(out), "--sections", "text_encoder", "--reps", "6",
            "--bench-products", "16", "--batch-size", "4"]
    assert runner.main(argv) == 0
    bench = json.loads((out / "bench.json").read_text())
    section = bench["runs"]["model"]["sections"]["text_encoder"]
    assert runner.torch.get_num_threads() == threads_before  # one thread only inside the section
    assert not onnx_dir(model).exists()  # exported into the bench's temp dir, the model dir untouched
    assert section["threads"] == 1 and section["queries"] == len(bench_queries()) > 50
    for name in ("torch", "onnx", "onnx_int8"):
        assert section["latency"][name]["n"] == 6 and section["latency"][name]["p50_ms"] > 0
    for name, floor in (("onnx", 0.999), ("onnx_int8", 0.99)):
        entry = section[name]
        assert entry["p50_ratio"] == section["latency"][name]["p50_ms"] / section["latency"]["torch"]["p50_ms"]
        assert entry["met"] == (entry["p50_ratio"] <= entry["target"]) and math.isfinite(entry["paired_median_ratio"])
        assert entry["cosine_floor"] == floor and entry["cosine"]["min"] >= floor and entry["cosine_met"]
        assert entry["cosine"]["min"] <= entry["cosine"]["mean"] <= 1.0 + 1e-6
    targets = {row["figure"]: row["by_arch"]["model"] for row in bench["targets"] if row["section"] == "text_encoder"}
    assert len(targets) == 4
    assert targets["onnx-int8 p50 / torch p50, one query, 1 thread"]["met"] == section["onnx_int8"]["met"]
    assert "text_encoder | onnx p50 / torch p50" in (out / "bench.md").read_text()
