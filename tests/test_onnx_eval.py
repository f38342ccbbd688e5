"""`make eval --text-encoder onnx|onnx-int8`: the model column is encoded by ONNX, the baseline by torch."""

import json
import shutil

import pytest
from tiny_model import build_tiny_clip

from fashion_search.catalog.synthetic.generate import write_synthetic_catalog
from fashion_search.evaluation import run as evaluate
from fashion_search.model.onnx_export import export_text_encoder


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx_eval")
    catalog = write_synthetic_catalog(root / "catalog", n=160, seed=1)
    model = build_tiny_clip(root / "clip")
    export_text_encoder(model)
    return catalog, model


# float32 only: int8's closeness to torch is checked per vector in test_onnx_text.py, and each eval
# run here costs ~30 s on a 2-core machine.
@pytest.mark.parametrize("text_encoder,tolerance", [("onnx", 1e-6)])
def test_onnx_eval_matches_torch_baseline(setup, tmp_path, text_encoder, tolerance):
    catalog, model = setup
    out = tmp_path / "reports"
    argv = ["--model", str(model), "--baseline", str(model), "--data", str(catalog), "--out-dir", str(out),
            "--max-products", "120", "--batch-size", "32", "--min-products", "3", "--no-store",
            "--text-encoder", text_encoder]
    assert evaluate.main(argv) == 0
    report = json.loads((out / "eval.json").read_text())
    assert report["models"]["model"]["text_encoder"] == text_encoder
    assert report["models"]["baseline"]["text_encoder"] == "torch"
    onnx, torch_ = report["models"]["model"]["metrics"], report["models"]["baseline"]["metrics"]
    assert set(onnx) == set(torch_) and len(onnx) > 10
    for key, entry in onnx.items():
        assert abs(entry["exact"] - torch_[key]["exact"]) <= tolerance, (key, entry["exact"], torch_[key]["exact"])


def test_missing_export_stops_eval_before_any_work(setup, tmp_path, capsys):
    catalog, model = setup
    bare = shutil.copytree(model, tmp_path / "bare", ignore=shutil.ignore_patterns("onnx"))
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--model", str(bare), "--data", str(catalog), "--text-encoder", "onnx"])
    assert "make export-onnx MODEL_DIR=" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--model", str(model), "--data", str(catalog), "--text-encoder", "bogus"])
