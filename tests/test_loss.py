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

from fashion_search.model.loss import MAX_LOGIT_SCALE, UNCONSTRAINED, clamp_logit_scale_, clip_loss, positive_mask

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


# ---------------------------------------------------------------- multi-positive (soft targets)
# Hand-made codes over fields (id, articleType): 0/1/2 are product ids, 10 = Tshirts, 11 = Watches.
TSHIRT_0, TSHIRT_1, WATCH_2 = [0, 10], [1, 10], [2, 11]
U = UNCONSTRAINED


def _codes(rows):
    return torch.tensor(rows, dtype=torch.long)


def _grad_loss(images, texts, scale, **codes):
    images, texts = images.clone().requires_grad_(), texts.clone().requires_grad_()
    loss = clip_loss(images, texts, scale, **codes)
    loss.backward()
    return loss.detach(), images.grad, texts.grad


def test_identity_match_is_exactly_plain_infonce():
    gen = torch.Generator().manual_seed(2)
    images, texts = torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen)
    ids = torch.arange(6)[:, None]
    attrs = torch.cat([ids, torch.full((6, 1), 10)], dim=1)  # all the same articleType ...
    constraints = torch.cat([ids, torch.full((6, 1), U)], dim=1)  # ... but every caption names its product
    plain = _grad_loss(images, texts, 5.0)
    multi = _grad_loss(images, texts, 5.0, image_attrs=attrs, caption_constraints=constraints)
    for a, b in zip(plain, multi):
        assert torch.equal(a, b)


def test_positive_mask_matches_stated_fields_only_and_missing_never_matches():
    attrs = _codes([TSHIRT_0, TSHIRT_1, WATCH_2, [3, -2]])  # product 3 has no articleType (MISSING = -2)
    constraints = _codes([[U, 10], [1, U], [U, U], [U, 11]])  # "tshirts", product 1's name, nothing, "watches"
    assert positive_mask(constraints, attrs).tolist() == [
        [True, True, False, False], [False, True, False, False], [True, True, True, True],
        [False, False, True, False]]


def test_two_tshirt_captions_split_their_targets_and_stop_pushing_tshirts_apart():
    # Pairs 0 and 1: T-shirt images captioned "tshirts"; pair 2: a watch captioned by its name.
    attrs, constraints = _codes([TSHIRT_0, TSHIRT_1, WATCH_2]), _codes([[U, 10], [U, 10], [2, U]])
    mask = positive_mask(constraints, attrs)
    targets = mask.double() / mask.sum(1, keepdim=True)
    assert targets.tolist() == [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]
    codes = dict(image_attrs=attrs, caption_constraints=constraints)

    tshirt, watch = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 1.0])
    shared = torch.stack([tshirt, tshirt, watch]).double()  # both T-shirts and both "tshirts" on one point
    apart = torch.tensor([[1.0, 0.3, 0.0], [1.0, -0.3, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)  # split
    scale = 10.0
    # Plain InfoNCE prefers T-shirts pushed apart (each "tshirts" caption to its own image) ...
    assert clip_loss(apart, apart, scale) < clip_loss(shared, shared, scale)
    # ... the multi-positive loss prefers them together: "tshirts" describes both images equally.
    assert clip_loss(shared, shared, scale, **codes) < clip_loss(apart, apart, scale, **codes)
    # At the shared point a T-shirt row (logits [s, s, 0], targets [.5, .5, 0]) costs log 2 + log(1 + e^-s / 2):
    # the floor log 2 is the targets' entropy.
    tshirt_row, watch_row = math.log(2) + math.log1p(math.exp(-scale) / 2), math.log1p(2 * math.exp(-scale))
    assert clip_loss(shared, shared, scale, **codes).item() == pytest.approx((4 * tshirt_row + 2 * watch_row) / 6,
                                                                             rel=1e-12)
    # Slightly split T-shirts (image 0 and text 0 at +eps on axis 1, pair 1 at -eps): a gradient step of plain
    # InfoNCE moves image 0 further up (apart), the multi-positive one moves it back down (together).
    eps = 0.05
    split = torch.tensor([[1.0, eps, 0.0], [1.0, -eps, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    _, plain_img, plain_txt = _grad_loss(split, split, scale)
    _, multi_img, multi_txt = _grad_loss(split, split, scale, **codes)
    assert -plain_img[0, 1] > 0 and -plain_txt[0, 1] > 0
    assert -multi_img[0, 1] < 0 and -multi_txt[0, 1] < 0

    # A "tshirts" caption closer to the other T-shirt than to its own is no longer penalised as a miss.
    texts = torch.tensor([[0.9, -0.3, 0.0], [0.9, 0.3, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    assert clip_loss(apart, texts, scale, **codes) < clip_loss(apart, texts, scale)


def test_image_to_text_targets_are_the_captions_describing_the_image():
    # Caption 0 is "tshirts", caption 1 names product 1. Image 1 (a T-shirt) is described by both
    # captions, image 0 by caption 0 only; text->image: caption 0 splits over both images.
    attrs, constraints = _codes([TSHIRT_0, TSHIRT_1]), _codes([[U, 10], [1, U]])
    gen = torch.Generator().manual_seed(3)
    images, texts = torch.randn(2, 3, generator=gen, dtype=torch.float64), torch.randn(2, 3, generator=gen, dtype=torch.float64)
    logits = 4.0 * F.normalize(images, dim=-1) @ F.normalize(texts, dim=-1).T  # image i . text j
    per_image, per_text = logits.log_softmax(1), logits.T.log_softmax(1)
    i2t = -(per_image[0, 0] + 0.5 * (per_image[1, 0] + per_image[1, 1])) / 2
    t2i = -(0.5 * (per_text[0, 0] + per_text[0, 1]) + per_text[1, 1]) / 2
    got = clip_loss(images, texts, 4.0, image_attrs=attrs, caption_constraints=constraints)
    assert got.item() == pytest.approx(((i2t + t2i) / 2).item(), rel=1e-12)


def test_own_pair_is_always_a_positive_and_bad_codes_raise():
    # A caption whose constraint its own image fails (inconsistent data) still keeps its own pair.
    attrs, constraints = _codes([TSHIRT_0, WATCH_2]), _codes([[U, 11], [U, 10]])  # swapped category captions
    features = torch.eye(2, dtype=torch.float64)
    loss = clip_loss(features, features, 10.0, image_attrs=attrs, caption_constraints=constraints)
    # Each row: targets 0.5 own + 0.5 the other -> -(0.5 log p_own + 0.5 log p_other).
    p_own = 1 / (1 + math.exp(-10.0))
    assert loss.item() == pytest.approx(-(0.5 * math.log(p_own) + 0.5 * math.log(1 - p_own)), rel=1e-9)
    with pytest.raises(ValueError, match="both image_attrs and caption_constraints"):
        clip_loss(features, features, 1.0, image_attrs=attrs)
    with pytest.raises(ValueError, match=r"must both be \(B=2, F\)"):
        clip_loss(features, features, 1.0, image_attrs=attrs, caption_constraints=constraints[:, :1])


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
    results = json.loads(out.read_text())
    assert set(results) == {"plain", "multi_positive"}
    for case, result in results.items():
        assert result["world_size"] == 2
        assert result["loss"] > 0.1 and abs(result["logit_scale_grad"]) > 1e-3  # a non-trivial case
        for name, diff in result["max_abs_diff"].items():
            assert diff < 1e-5, f"{case}: {name} differs by {diff} between 2 processes and 1: {result}"
    # The multi-positive case has positives beyond the diagonal, some of them across the two ranks.
    assert results["multi_positive"]["cross_rank_positives"] > 0
    assert results["multi_positive"]["same_rank_positives"] > 0
