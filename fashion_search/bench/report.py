"""bench.json + bench.md: the headline figures of each section, each with its pair and its target."""

from __future__ import annotations

import json
from pathlib import Path


def _pair(a: float, b: float, unit: str) -> str:
    return f"{a:.3g} vs {b:.3g} {unit}"


def _row(section: str, figure: str, value, pair: str = "", target: str = "", met=None) -> dict:
    return {"section": section, "figure": figure, "value": value, "pair": pair, "target": target, "met": met}


def summary_rows(sections: dict) -> list[dict]:
    rows = []
    if "search" in sections:
        s = sections["search"]
        rows.append(_row("search", "overhead p50 (end-to-end / encoder - 1)", s["overhead_p50"],
                         _pair(s["end_to_end"]["p50_ms"], s["encoder"]["p50_ms"], "ms"),
                         f"<= {s['overhead_target']:.2f}", s["overhead_met"]))
        rows.append(_row("search", "overhead, median of per-query paired ratios - 1", s["overhead_paired_median"]))
        rows.append(_row("search", "added p50 ms (end-to-end - encoder)", s["added_p50_ms"]))
        rows.append(_row("search", "filter click (same text, cached vector) p50 / encoder p50",
                         s["filter_click_vs_encoder_p50"],
                         _pair(s["filter_click"]["p50_ms"], s["encoder"]["p50_ms"], "ms")))
        rows.append(_row("search", "boosted (the page's default: named values first) overhead p50", s["boosted_overhead_p50"],
                         _pair(s["boosted"]["p50_ms"], s["encoder"]["p50_ms"], "ms")))
        rows.append(_row("search", "overhead p95", s["overhead_p95"],
                         _pair(s["end_to_end"]["p95_ms"], s["encoder"]["p95_ms"], "ms")))
        rows.append(_row("search", f"text encoder p50, {s['torch_threads_default']} torch threads / 1 thread",
                         s["one_thread_speedup_p50"], _pair(s["encoder_default_threads"]["p50_ms"],
                                                            s["encoder_one_thread"]["p50_ms"], "ms")))
        rows.append(_row("search", "QPS 4 clients / 1 client", s["qps_ratio_4_vs_1"],
                         _pair(s["qps_4_clients"], s["qps_1_client"], "QPS")))
    if "store" in sections:
        s = sections["store"]
        for key, entry in s.items():
            if key.startswith("edge_") and isinstance(entry, dict) and "filtered" in entry:
                target = entry.get("filtered_p50_target_ms")
                rows.append(_row("store", f"{key} filtered p50 ms (vs unfiltered)", entry["filtered"]["p50_ms"],
                                 _pair(entry["filtered"]["p50_ms"], entry["unfiltered"]["p50_ms"], "ms"),
                                 "" if target is None else f"<= {target:g} ms", entry.get("filtered_p50_met")))
                rows.append(_row("store", f"{key} filtered + boosted colour p50 ms (vs filtered)", entry["boosted"]["p50_ms"],
                                 _pair(entry["boosted"]["p50_ms"], entry["filtered"]["p50_ms"], "ms")))
            elif key.startswith("filtered_p50_ratio_"):
                rows.append(_row("store", key, entry))
        local = s["edge_vs_local_mode"]
        rows.append(_row("store", f"Edge speedup over local mode p50 ({local['points']} points)", local["edge_speedup_p50"],
                         _pair(local["edge"]["p50_ms"], local["local_mode"]["p50_ms"], "ms")))
    if "ingest" in sections:
        s = sections["ingest"]
        rows.append(_row("ingest", "embed-loop images/s / encoder images/s", s["loop_ratio"],
                         _pair(s["ingest_loop_images_per_s"], s["encoder_images_per_s"], "img/s"),
                         f">= {s['ratio_target']:.2f}", s["ratio_met"]))
        rows.append(_row("ingest", "whole-job images/s / encoder images/s", s["job_ratio"],
                         _pair(s["ingest_job_images_per_s"], s["encoder_images_per_s"], "img/s")))
    if "train" in sections:
        s = sections["train"]
        rows.append(_row("train", "trainer samples/s / forward+backward samples/s", s["ratio"],
                         _pair(s["trainer_samples_per_s"], s["forward_backward_samples_per_s"], "samples/s"),
                         f">= {s['ratio_target']:.2f}", s["ratio_met"]))
        rows.append(_row("train", "epoch start-up s (first-batch wait, outside the ratio)", s["epoch_start_s"]))
    return rows


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [f"Model: {report['model']['name']} ({report['model']['dim']}-d) on {env['device']}; "
             f"{env['cpu_count']} CPUs, torch threads {env['torch_threads']}, load average at start "
             f"{env['load_average']}; quick={report['config']['quick']}.", "",
             "| section | figure | value | measured pair | target | met |", "|---|---|---|---|---|---|"]
    for row in report["summary"]:
        met = "" if row["met"] is None else ("yes" if row["met"] else "NO")
        lines.append(f"| {row['section']} | {row['figure']} | {row['value']:.3f} | {row['pair']} | {row['target']} | {met} |")
    return "\n".join(lines) + "\n"


def write_reports(report: dict, out_dir) -> tuple[Path, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "bench.json", out / "bench.md"
    json_path.write_text(json.dumps(report, indent=2))
    md_path.write_text(markdown(report))
    return json_path, md_path
