"""`make demo` end to end on a tiny synthetic catalog (no page): train -> ingest -> example queries."""

import pytest

from fashion_search import demo
from fashion_search.catalog.synthetic.generate import write_synthetic_catalog
from fashion_search.store import open_store


@pytest.mark.slow
def test_demo_trains_ingests_and_answers_the_example_queries(tmp_path, capsys):
    catalog = write_synthetic_catalog(tmp_path / "catalog", n=160, seed=3, progress=False)
    store, run_dir = tmp_path / "qdrant", tmp_path / "run"
    argv = ["--data", str(catalog), "--store", str(store), "--run-dir", str(run_dir), "--no-ui",
            "--train-args", "--epochs 1 --batch-size 32 --max-val-products 40 --num-workers 0 "
                            "--small-vision-hidden 32 --small-text-hidden 32 --small-projection-dim 32"]
    assert demo.main(argv) == 0
    out = capsys.readouterr().out
    assert all(f'"{q}"' in out for q in demo.EXAMPLE_QUERIES)
    assert "t2i/R@10" in out  # the retrieval summary from the training report
    # "red summer dress" as the page ranks it: the values the query names first (and offered as filters)
    lines = out.splitlines()
    at = lines.index("   first: products matching baseColour=Red, articleType=Dresses "
                     "(the page also offers them as one-click filters)")
    assert lines[at - 1].startswith('"red summer dress"')
    top = lines[at + 1]  # "   0.123  name  [articleType, baseColour, gender]"
    assert "[Dresses," in top or ", Red," in top
    with open_store(str(store)) as opened:
        assert opened.count() == 160  # every product, ingested once
        assert opened.model_info()["catalog"] == str(catalog.resolve())

    # A second run reuses the trained model and the filled store: nothing is trained or embedded again.
    mtime = (run_dir / "best" / "model.safetensors").stat().st_mtime_ns
    assert demo.main(argv) == 0
    assert (run_dir / "best" / "model.safetensors").stat().st_mtime_ns == mtime
    with open_store(str(store)) as opened:
        assert opened.count() == 160


def test_demo_config_rejects_bad_values():
    with pytest.raises(SystemExit):
        demo.parse_config(["--port", "0"])
    with pytest.raises(SystemExit):
        demo.parse_config(["--synthetic-n", "5"])
