"""Contrastive loss: hand-computed cases, and 2-process gathering equals one process on the whole batch."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fashion_search.loss import MAX_LOGIT_SCALE, clamp_logit_scale_, clip_loss

REPO = Path(__file__).resolve().parents[1]


def test_perfect_alignment_gives_near_zero_loss_and_random_does_not():
    features = torch.eye(4)  # 4 orthogonal pairs, image i == text i
    aligned = clip_loss(features, features, logit_scale=100.0)
    # Each row: softmax over [100, 0, 0, 0] -> loss = log(1 + 3 e^-100) ~ 0.
    assert aligned.item() == pytest.approx(math.log1p(3 * math.exp(-100)), abs=1e-12)
    swapped = clip_loss(features, features.roll(1, dims=0), logit_scale=100.0)
    assert swapped.item() == pytest.approx(100.0, rel=1e-6)  # the right pair is 100 logits below the wrong one


def test_hand_computed_two_pair_loss():
    # image 0 . text 0 = 1, image 0 . text 1 = 0, etc. With scale s every row is CE over [s, 0].
    features = torch.eye(2, dtype=torch.float64)
    for scale in (1.0, 2.0, 10.0):
        expected = math.log1p(math.exp(-scale))
        assert clip_loss(features, features, scale).item() == pytest.approx(expected, rel=1e-6)


def test_loss_is_symmetric_in_images_and_texts():
    gen = torch.Generator().manual_seed(0)
    images, texts = torch.randn(6, 8, generator=gen), torch.randn(6, 8, generator=gen)
    assert clip_loss(images, texts, 7.0).item() == pytest.approx(clip_loss(texts, images, 7.0).item(), rel=1e-6)


def test_loss_matches_explicit_two_direction_cross_entropy():
    gen = torch.Generator().manual_seed(1)
    images, texts = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    i, t = F.normalize(images, dim=-1), F.normalize(texts, dim=-1)
    logits = 3.0 * i @ t.T
    labels = torch.arange(5)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    assert clip_loss(images, texts, 3.0).item() == pytest.approx(expected.item(), rel=1e-6)


def test_logit_scale_is_clamped_at_100_in_loss_and_parameter():
    features = torch.eye(2)
    assert clip_loss(features, features, 1e6).item() == pytest.approx(
        clip_loss(features, features, MAX_LOGIT_SCALE).item()
    )
    param = torch.nn.Parameter(torch.tensor(9.0))
    clamp_logit_scale_(param)
    assert param.item() == pytest.approx(math.log(100))


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="must both be"):
        clip_loss(torch.ones(3, 4), torch.ones(2, 4), 1.0)


def test_gather_without_distributed_init_names_the_fix():
    with pytest.raises(RuntimeError, match="torchrun"):
        clip_loss(torch.ones(2, 4), torch.ones(2, 4), 1.0, rank=0, world_size=2)


@pytest.mark.timeout(180)
def test_two_processes_match_one_process_on_concatenated_batch(tmp_path):
    out = tmp_path / "dist.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(REPO / "tests" / "dist_loss_check.py"), str(out),
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["world_size"] == 2
    assert result["loss"] > 0.1 and abs(result["logit_scale_grad"]) > 1e-3  # a non-trivial case
    for name, diff in result["max_abs_diff"].items():
        assert diff < 1e-5, f"{name} differs by {diff} between 2 processes and 1: {result}"
