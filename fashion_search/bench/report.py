"""bench.json + bench.md: the headline figures of each section, each with its pair and its target.

A bench writes one run per architecture (runner.ARCHS) and, first, the targeted figures of every run
side by side, so the verdict for the product's default architecture and for the model under test
are read in one table.
"""

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
        if "hybrid_vs_image_p50" in s:
            rows.append(_row("search", "hybrid (the page's default: named values, image + words) p50 / image-only p50",
                             s["hybrid_vs_image_p50"], _pair(s["hybrid"]["p50_ms"], s["end_to_end"]["p50_ms"], "ms"),
                             f"<= {s['hybrid_target']:.2f}", s["hybrid_met"]))
        rows.append(_row("search", "overhead p95", s["overhead_p95"],
                         _pair(s["end_to_end"]["p95_ms"], s["encoder"]["p95_ms"], "ms")))
        rows.append(_row("search", f"text encoder p50, {s['torch_threads_default']} torch threads / 1 thread",
                         s["one_thread_speedup_p50"], _pair(s["encoder_default_threads"]["p50_ms"],
                                                            s["encoder_one_thread"]["p50_ms"], "ms")))
        rows.append(_row("search", "QPS 4 clients / 1 client", s["qps_ratio_4_vs_1"],
                         _pair(s["qps_4_clients"], s["qps_1_client"], "QPS")))
    if "hybrid" in sections:
        rows += hybrid_rows(sections["hybrid"])
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
    if "ingest_words" in sections:
        s = sections["ingest_words"]
        with_words, without = s["with_words"], s["without_words"]
        rows.append(_row("ingest_words", "with words / without: images/s of embed loop + optimize", s["indexed_ratio"],
                         _pair(with_words["indexed_images_per_s"], without["indexed_images_per_s"], "img/s"),
                         f">= {s['ratio_target']:.2f}", s["ratio_met"]))
        for rate, label in (("loop", "embed loop"), ("job", "whole job")):
            rows.append(_row("ingest_words", f"with words / without: images/s of {label}", s[f"{rate}_ratio"],
                             _pair(with_words[f"{rate}_images_per_s"], without[f"{rate}_images_per_s"], "img/s")))
    if "ingest_tags" in sections:
        s = sections["ingest_tags"]
        for rate, label in (("indexed", "embed loop + optimize"), ("loop", "embed loop"), ("job", "whole job")):
            rows.append(_row("ingest_tags", f"with photo tags / without: images/s of {label}", s[f"{rate}_ratio"],
                             _pair(s["with_tags"][f"{rate}_images_per_s"], s["without_tags"][f"{rate}_images_per_s"],
                                   "img/s")))
    if "train" in sections:
        s = sections["train"]
        rows.append(_row("train", "trainer samples/s / forward+backward samples/s", s["ratio"],
                         _pair(s["trainer_samples_per_s"], s["forward_backward_samples_per_s"], "samples/s"),
                         f">= {s['ratio_target']:.2f}", s["ratio_met"]))
        rows.append(_row("train", "epoch start-up s (first-batch wait, outside the ratio)", s["epoch_start_s"]))
    if "text_encoder" in sections:
        s, lat = sections["text_encoder"], sections["text_encoder"]["latency"]
        for name, label in (("onnx", "onnx"), ("onnx_int8", "onnx-int8")):
            entry = s[name]
            rows.append(_row("text_encoder", f"{label} p50 / torch p50, one query, 1 thread", entry["p50_ratio"],
                             _pair(lat[name]["p50_ms"], lat["torch"]["p50_ms"], "ms"), f"<= {entry['target']:.2f}",
                             entry["met"]))
            rows.append(_row("text_encoder", f"{label} min cosine to torch ({s['queries']} shopper queries)",
                             entry["cosine"]["min"], f"min {entry['cosine']['min']:.5f}, mean {entry['cosine']['mean']:.5f}",
                             f">= {entry['cosine_floor']}", entry["cosine_met"]))
    if "serve" in sections:
        rows += serve_rows(sections["serve"])
    return rows


def hybrid_rows(s: dict) -> list[dict]:
    rows = []
    for n in s["sizes"]:
        e = s[f"edge_{n}"]
        rows.append(_row("hybrid", f"{n} points: hybrid p50 / image-only p50, cached text vector",
                         e["hybrid_vs_image_p50"], _pair(e["hybrid"]["p50_ms"], e["image"]["p50_ms"], "ms")))
        rows.append(_row("hybrid", f"{n} points: hybrid / image-only, median of per-query paired ratios",
                         e["hybrid_vs_image_paired_median"]))
        rows.append(_row("hybrid", f"{n} points: hybrid p95 / image-only p95, cached text vector",
                         e["hybrid_vs_image_p95"], _pair(e["hybrid"]["p95_ms"], e["image"]["p95_ms"], "ms")))
        rows.append(_row("hybrid", f"{n} points: named values without words p50 / image-only p50",
                         e["named_vs_image_p50"], _pair(e["named"]["p50_ms"], e["image"]["p50_ms"], "ms")))
        rows.append(_row("hybrid", f"{n} points: hybrid p50 / image-only p50, encoding the text",
                         e["end_to_end_hybrid_vs_image_p50"],
                         _pair(e["hybrid_end_to_end"]["p50_ms"], e["image_end_to_end"]["p50_ms"], "ms")))
        if "detail_hybrid_vs_image_p50" in e:
            rows.append(_row("hybrid", f"{n} points: with a brand word (words fetched and re-scored) hybrid p50 / "
                             "image-only p50, cached text vector", e["detail_hybrid_vs_image_p50"],
                             _pair(e["hybrid_detail"]["p50_ms"], e["image_detail"]["p50_ms"], "ms")))
            rows.append(_row("hybrid", f"{n} points: with a brand word, query vector among its product's cluster, "
                             "hybrid p50 / image-only p50, cached", e["detail_aligned_hybrid_vs_image_p50"],
                             _pair(e["hybrid_detail_aligned"]["p50_ms"], e["image_detail_aligned"]["p50_ms"], "ms")))
            rows.append(_row("hybrid", f"{n} points: with a brand word, hybrid p50 / image-only p50, encoding the text",
                             e["detail_end_to_end_hybrid_vs_image_p50"],
                             _pair(e["hybrid_detail_end_to_end"]["p50_ms"], e["image_detail_end_to_end"]["p50_ms"],
                                   "ms")))
    for key, value in s.items():
        if key.startswith("hybrid_p50_ratio_"):
            rows.append(_row("hybrid", key, value))
    return rows


def serve_rows(s: dict) -> list[dict]:
    rows = [_row("serve", "API QPS at 4 clients / in-process Searcher QPS at 4 threads", s["api_vs_in_process_qps"],
                 _pair(s["api_qps_4_clients"], s["in_process_qps_4_threads"], "QPS"), f">= {s['ratio_target']:.2f}",
                 s["ratio_met"]),
            _row("serve", "API errors under load (all levels)", float(s["api_errors"]), "", "0", s["api_errors"] == 0)]
    for level in s["api"]:
        rows.append(_row("serve", f"API {level['clients']} clients: QPS (p50 / p95 / p99 ms)", level["qps"],
                         f"{level['p50_ms']:.3g} / {level['p95_ms']:.3g} / {level['p99_ms']:.3g} ms"
                         if level["requests"] else "no answers"))
    if "page_get_loaded" in s:
        idle, loaded = s["page_get_idle"], s["page_get_loaded"]
        rows.append(_row("serve", f"page GET p95 ms with {s['page_loaded_clients']} API clients (vs idle)",
                         loaded["p95_ms"], _pair(loaded["p95_ms"], idle["p95_ms"], "ms"),
                         f"<= {s['page_p95_target_ms']:g} ms", s["page_responsive"]))
    return rows


ARCH_LABELS = {"model": "model under test", "vit-b32": "ViT-B/32 architecture (the default model's)"}


def target_rows(runs: dict[str, dict]) -> list[dict]:
    """The figures with a target, one row each, with every run's value, pair and verdict."""
    rows: dict[tuple[str, str], dict] = {}
    for arch, report in runs.items():
        for row in report["summary"]:
            if row["met"] is None:
                continue
            entry = rows.setdefault((row["section"], row["figure"]),
                                    {"section": row["section"], "figure": row["figure"], "target": row["target"],
                                     "by_arch": {}})
            entry["by_arch"][arch] = {"value": row["value"], "pair": row["pair"], "met": row["met"]}
    return list(rows.values())


def _verdict(met) -> str:
    return "" if met is None else ("yes" if met else "NO")


def run_markdown(report: dict) -> str:
    env = report["environment"]
    lines = [f"Model: {report['model']['name']} ({report['model']['dim']}-d, {report['model']['source']}) on "
             f"{env['device']}; {env['cpu_count']} CPUs, torch threads {env['torch_threads']}, load average at "
             f"start {env['load_average']}; quick={report['config']['quick']}.", "",
             "| section | figure | value | measured pair | target | met |", "|---|---|---|---|---|---|"]
    for row in report["summary"]:
        lines.append(f"| {row['section']} | {row['figure']} | {row['value']:.3f} | {row['pair']} | {row['target']} | "
                     f"{_verdict(row['met'])} |")
    return "\n".join(lines) + "\n"


def markdown(bench: dict) -> str:
    runs = bench["runs"]
    heads = [f"{ARCH_LABELS.get(arch, arch)}, {r['model']['dim']}-d" for arch, r in runs.items()]
    lines = ["## Targets", "",
             "Each value is a pair measured interleaved within its own run; 'model under test' is the model given "
             "(by default the trained small preset), the ViT-B/32 run times the product's default architecture "
             "randomly initialised (no weights offline).", "",
             "| section | figure | target | " + " | ".join(heads) + " |", "|---|---|---|" + "---|" * len(heads)]
    for row in bench["targets"]:
        cells = []
        for arch in runs:
            got = row["by_arch"].get(arch)
            cells.append("" if got is None else f"{got['value']:.3f} ({got['pair']}) {_verdict(got['met'])}")
        lines.append(f"| {row['section']} | {row['figure']} | {row['target']} | " + " | ".join(cells) + " |")
    for arch, report in runs.items():
        lines += ["", f"## {ARCH_LABELS.get(arch, arch)}", "", run_markdown(report).rstrip("\n")]
    return "\n".join(lines) + "\n"


def write_reports(bench: dict, out_dir) -> tuple[Path, Path]:
    """bench = {"runs": {arch: run report}, "targets": target_rows(runs)}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "bench.json", out / "bench.md"
    json_path.write_text(json.dumps(bench, indent=2))
    md_path.write_text(markdown(bench))
    return json_path, md_path
