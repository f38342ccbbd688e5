"""The bench's serve section, quick: the API under uvicorn on loopback answers every request of every load
level, the ratio to the in-process Searcher is formed, and the page's server answers while loaded."""

from __future__ import annotations

import json
import math

import pytest

from fashion_search.bench import runner


@pytest.mark.slow  # starts uvicorn and streamlit: ~30 s on an idle machine
def test_quick_serve_section_reports_qps_latency_errors_and_the_page(tmp_path):
    from tiny_model import build_tiny_clip

    model = build_tiny_clip(tmp_path / "clip")
    out = tmp_path / "reports"
    argv = ["--quick", "--model", str(model), "--out-dir", str(out), "--sections", "serve", "--search-points", "500",
            "--serve-seconds", "1", "--serve-clients", "1,4", "--bench-products", "16", "--batch-size", "4"]
    assert runner.main(argv) == 0
    bench = json.loads((out / "bench.json").read_text())
    serve = bench["runs"]["model"]["sections"]["serve"]
    assert serve["points"] == 500 and serve["collection"] == "bench"
    assert [level["clients"] for level in serve["api"]] == [1, 4]
    for level in serve["api"] + serve["in_process"]:
        assert level["errors"] == 0 and level["requests"] > 0, level
        assert 0 < level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"]
        assert level["qps"] == pytest.approx(level["requests"] / level["seconds"], rel=0.01)
    assert serve["api_errors"] == 0
    assert serve["api_vs_in_process_qps"] == pytest.approx(serve["api_qps_4_clients"] / serve["in_process_qps_4_threads"])
    assert serve["ratio_met"] == (serve["api_vs_in_process_qps"] >= 0.80)
    loaded = serve["page_get_loaded"]
    assert loaded["n"] >= 2 and math.isfinite(loaded["p95_ms"]) and serve["page_get_idle"]["n"] == 10
    figures = {row["figure"]: row for row in bench["runs"]["model"]["summary"]}
    assert figures["API errors under load (all levels)"]["met"] is True
    assert {row["figure"] for row in bench["targets"]} >= {
        "API QPS at 4 clients / in-process Searcher QPS at 4 threads", "API errors under load (all levels)"}
    assert "serve | API 4 clients: QPS" in (out / "bench.md").read_text()
