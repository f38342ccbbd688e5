"""The bench's hybrid and ingest_words sections, tiny: every figure present, paired and sane (no timing
assertions), store sizes as asked, and the two ingest sides really built with and without words."""

from __future__ import annotations

import json
import math

import pytest

from fashion_search.bench import runner


def _positive(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_hybrid_and_ingest_catalog_options(tmp_path):
    assert runner.BenchConfig(quick=True).hybrid_point_list == [2000]
    full = runner.BenchConfig(sections="hybrid")
    assert full.hybrid_point_list == [41154, 1_000_000] and full.sections == "hybrid"
    assert runner.BenchConfig(hybrid_points="300,41154").for_arch("vit-b32").hybrid_point_list == [300, 41154]
    for bad in ("41k", "5", "300,300", ""):
        with pytest.raises(ValueError, match="--hybrid-points"):
            runner.BenchConfig(hybrid_points=bad)
    with pytest.raises(ValueError, match="--ingest-catalog"):
        runner.BenchConfig(ingest_catalog=str(tmp_path / "nowhere"))


def test_tiny_hybrid_and_ingest_words_sections(tmp_path):
    from tiny_model import build_tiny_clip

    model = build_tiny_clip(tmp_path / "clip")
    out = tmp_path / "reports"
    argv = ["--quick", "--model", str(model), "--out-dir", str(out), "--sections", "hybrid,ingest_words",
            "--hybrid-points", "200,300", "--reps", "4", "--bench-products", "16", "--batch-size", "4",
            "--section-reps", "2", "--num-workers", "0"]
    assert runner.main(argv) == 0
    bench = json.loads((out / "bench.json").read_text())
    report = bench["runs"]["model"]
    hybrid, words = report["sections"]["hybrid"], report["sections"]["ingest_words"]

    assert hybrid["sizes"] == [200, 300] and hybrid["dim"] == 16
    for n in (200, 300):
        entry = hybrid[f"edge_{n}"]
        assert entry["points"] == n and entry["build"]["upsert_s"] > 0
        for form in ("hybrid", "named", "image", "hybrid_end_to_end", "image_end_to_end", "hybrid_detail",
                     "image_detail", "hybrid_detail_end_to_end", "image_detail_end_to_end", "hybrid_detail_aligned",
                     "image_detail_aligned"):
            assert entry[form]["n"] == 4 and 0 < entry[form]["p50_ms"] <= entry[form]["p95_ms"], form
        assert entry["hybrid_vs_image_p50"] == pytest.approx(entry["hybrid"]["p50_ms"] / entry["image"]["p50_ms"])
        for key in ("hybrid_vs_image_p95", "hybrid_vs_image_paired_median", "named_vs_image_p50",
                    "end_to_end_hybrid_vs_image_p50", "detail_hybrid_vs_image_p50",
                    "detail_end_to_end_hybrid_vs_image_p50"):
            assert _positive(entry[key]), key
        assert entry["detail_hybrid_vs_image_p50"] == pytest.approx(entry["hybrid_detail"]["p50_ms"]
                                                                    / entry["image_detail"]["p50_ms"])
        assert entry["detail_aligned_hybrid_vs_image_p50"] == pytest.approx(
            entry["hybrid_detail_aligned"]["p50_ms"] / entry["image_detail_aligned"]["p50_ms"])
        # the same brand texts on both sides of the end-to-end ratio
        assert entry["detail_end_to_end_hybrid_vs_image_p50"] == pytest.approx(
            entry["hybrid_detail_end_to_end"]["p50_ms"] / entry["image_detail_end_to_end"]["p50_ms"])
    assert _positive(hybrid["hybrid_p50_ratio_300_vs_200"])

    assert (words["images"], words["reps"], words["batch_size"]) == (16, 2, 8)
    for side in ("with_words", "without_words"):
        for rate in ("loop", "indexed", "job"):
            assert _positive(words[side][f"{rate}_images_per_s"]), (side, rate)
    # the whole job includes the embed loop and the optimize: never faster than either part
    assert words["with_words"]["job_images_per_s"] <= words["with_words"]["indexed_images_per_s"]
    assert words["with_words"]["indexed_images_per_s"] <= words["with_words"]["loop_images_per_s"]
    assert all(_positive(words[f"{rate}_ratio"]) for rate in ("loop", "indexed", "job"))
    assert words["ratio_target"] == 0.90 and words["ratio_met"] == (words["indexed_ratio"] >= 0.90)

    figures = {row["figure"]: row for row in report["summary"]}
    assert figures["300 points: hybrid p50 / image-only p50, cached text vector"]["value"] == \
        hybrid["edge_300"]["hybrid_vs_image_p50"]
    assert figures["with words / without: images/s of embed loop + optimize"]["met"] == words["ratio_met"]
    assert [(row["section"], row["target"]) for row in bench["targets"]] == [("ingest_words", ">= 0.90")]
    assert "| ingest_words | with words / without: images/s of whole job |" in (out / "bench.md").read_text()


def test_detail_queries_add_a_word_no_level_ranks_by():
    """The `_detail` forms must exercise the words' prefetch: the added word is the product's brand, a
    word of its name that names no gender, colour or type value of the catalog."""
    from fashion_search.bench.points import PointGenerator
    from fashion_search.bench.search import shopper_queries

    generator = PointGenerator(500, 8, 0)
    queries = shopper_queries(generator, 200)
    detailed = shopper_queries(generator, 200, brand=True)
    assert any(len(text.split()) > 3 for text, _ in queries)   # a two-word colour or type among them
    values = {str(p[f]).lower() for p in generator.pool for f in ("gender", "baseColour", "articleType")}
    for (text, filters), (with_brand, same_filters) in zip(queries, detailed):
        added = [w for w in with_brand.split() if w not in text.split()]
        assert len(added) == 1 and added[0] not in values and same_filters == filters
        assert with_brand.replace(f" {added[0]}", "", 1) == text
        # right before the type, so a two-word colour ("navy blue") stays one phrase
        assert with_brand.endswith(f"{added[0]} {filters.values['articleType'][0].lower()}")


def test_aligned_forms_search_with_the_products_cluster_vector(tmp_path):
    """The `_aligned` forms search with a vector among the query's product cluster, not the model's: their
    image-only hits mostly carry the product's colour (the filters hold only gender and type), where the
    tiny model's vector for the same text finds that colour about as often as chance."""
    import numpy as np
    from tiny_model import build_tiny_clip

    from fashion_search.bench.hybrid import size_candidates
    from fashion_search.bench.points import PointGenerator, build_store
    from fashion_search.bench.search import shopper_products, shopper_queries
    from fashion_search.model.clip import load_clip
    from fashion_search.model.embed import Embedder

    embedder = Embedder(*load_clip(str(build_tiny_clip(tmp_path / "clip"))), device="cpu")
    generator = PointGenerator(3000, embedder.dim, 0)
    store, _ = build_store(str(tmp_path / "edge"), generator)
    try:
        products = shopper_products(generator, 30)
        detailed = shopper_queries(generator, 30, brand=True)
        vectors = generator.vectors_for(products, np.random.default_rng(4))
        candidates = size_candidates(3000, store, embedder, shopper_queries(generator, 30), detailed, vectors)

        def colour_share(form: str) -> float:
            hits = [(h, p) for i, p in enumerate(products) for h in candidates[f"3000/{form}"](i).hits[:5]]
            return sum(h.payload["baseColour"] == p["baseColour"] for h, p in hits) / len(hits)

        # 16-d vectors: colour directions are far from orthogonal, so not every hit; measured 0.77 vs 0.06
        assert colour_share("image_detail_aligned") >= 0.6
        assert colour_share("image_detail") <= 0.3
    finally:
        store.close()


def test_tiny_ingest_tags_section(tmp_path):
    """With and without a photo tagger: both sides ran, the tagged side's store names the tagger, the rows say so."""
    from tiny_model import build_tiny_clip

    model = build_tiny_clip(tmp_path / "clip")
    out = tmp_path / "reports"
    argv = ["--quick", "--model", str(model), "--out-dir", str(out), "--sections", "ingest_tags",
            "--bench-products", "16", "--batch-size", "4", "--section-reps", "2", "--num-workers", "0"]
    assert runner.main(argv) == 0
    report = json.loads((out / "bench.json").read_text())["runs"]["model"]
    tags = report["sections"]["ingest_tags"]
    assert (tags["images"], tags["reps"], tags["tags"]) == (16, 2, 130)
    for side in ("with_tags", "without_tags"):
        assert tags[side]["job_images_per_s"] <= tags[side]["indexed_images_per_s"] <= tags[side]["loop_images_per_s"]
    assert all(_positive(tags[f"{rate}_ratio"]) for rate in ("loop", "indexed", "job"))
    figures = {row["figure"]: row for row in report["summary"]}
    assert figures["with photo tags / without: images/s of embed loop + optimize"]["value"] == tags["indexed_ratio"]


def test_the_ingest_tags_sides_are_checked(tmp_path):
    """A side that did not build what it claims voids the comparison instead of reporting it."""
    from tiny_model import build_tiny_clip

    from fashion_search.bench import ingest_tags
    from fashion_search.catalog.synthetic.generate import write_synthetic_catalog
    from fashion_search.ingest import IngestConfig
    from fashion_search.ingest.runner import run_ingest

    model = str(build_tiny_clip(tmp_path / "clip"))
    catalog = str(write_synthetic_catalog(tmp_path / "shop", 12, seed=1, progress=False))
    tagger = ingest_tags.build_tagger(tmp_path / "tagger")
    plain, tagged = str(tmp_path / "plain"), str(tmp_path / "tagged")
    run_ingest(IngestConfig(catalog=catalog, model=model, store=plain, collection="bench", num_workers=0))
    run_ingest(IngestConfig(catalog=catalog, model=model, store=tagged, collection="bench", num_workers=0, tagger=tagger))
    ingest_tags._check_tags(plain, "bench", "without_tags", 12)
    ingest_tags._check_tags(tagged, "bench", "with_tags", 12)
    with pytest.raises(RuntimeError, match="void"):
        ingest_tags._check_tags(plain, "bench", "with_tags", 12)
    with pytest.raises(RuntimeError, match="void"):
        ingest_tags._check_tags(tagged, "bench", "without_tags", 12)
