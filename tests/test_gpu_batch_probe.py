"""scripts/gpu_batch_probe.py: the largest batch that fits wins; out-of-memory falls back to the next."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
from transformers import CLIPConfig

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_batch_probe.py"


@pytest.fixture()
def probe(monkeypatch):
    spec = importlib.util.spec_from_file_location("gpu_batch_probe", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # A tiny CLIP instead of ViT-B/32, so the real forward/backward/AdamW path runs in a second.
    tiny = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    monkeypatch.setattr(module, "vit_b32_config", lambda: CLIPConfig(
        text_config={**tiny, "vocab_size": 3000, "max_position_embeddings": 77},
        vision_config={**tiny, "image_size": 32, "patch_size": 16}, projection_dim=16))
    return module


def _run(probe, monkeypatch, tmp_path, batches, fail_above=None):
    real = probe.one_try

    def one_try(model, optimizer, batch, device, steps=2):
        if fail_above is not None and batch > fail_above:
            raise torch.OutOfMemoryError("simulated")
        return real(model, optimizer, batch, device, steps)

    monkeypatch.setattr(probe, "one_try", one_try)
    out = tmp_path / "probe.json"
    monkeypatch.setattr(sys, "argv", ["probe", "--device", "cpu", "--batches", *map(str, batches), "--out", str(out)])
    return probe.main(), json.loads(out.read_text())


def test_largest_fitting_batch_is_chosen_after_out_of_memory(probe, monkeypatch, tmp_path, capsys):
    code, report = _run(probe, monkeypatch, tmp_path, [2, 8, 4], fail_above=4)
    assert code == 0 and report["chosen"] == 4
    assert [(t["batch"], t["fits"]) for t in report["tries"]] == [(8, False), (4, True)]
    assert report["tries"][1]["samples_per_s_random_tensors"] > 0
    assert capsys.readouterr().out.strip() == "4"  # what scripts/gpu_bench.sh reads


def test_nothing_fits_exits_non_zero(probe, monkeypatch, tmp_path):
    code, report = _run(probe, monkeypatch, tmp_path, [4, 2], fail_above=1)
    assert code == 1 and report["chosen"] is None and len(report["tries"]) == 2
