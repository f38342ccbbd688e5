"""Run by tests/test_loss.py under `torchrun --nproc_per_node W` (gloo, CPU).

Every rank builds the same global batch (seeded), encodes its own slice with shared linear
"encoders", computes clip_loss on local rows vs gathered columns and backpropagates. Rank 0 then
compares with one process on the concatenated batch and writes the largest differences as JSON, for
two cases: "plain" (one-hot InfoNCE) and "multi_positive" (soft targets from attribute codes drawn
from few values, so captions match images of the same and of the other rank):

- loss:          mean over ranks of L_r            vs  L(global batch)
- feature grads: grad of rank r's local features / W  vs  dL/d(features)[rank r's rows]
                 (the all_gather backward sums every rank's contribution: W * dL/dx_r)
- param grads:   DDP-style average over ranks of the encoder/logit-scale grads  vs  dL/dtheta
"""

import json
import os
import sys

import torch
import torch.distributed as dist

from fashion_search.model.loss import UNCONSTRAINED, clip_loss, positive_mask

BATCH_PER_RANK, IN_DIM, EMB_DIM = 4, 6, 5
N_FIELDS = 3  # field 0: the product id (unique), fields 1-2: categories with 2 values each


def build(seed: int = 0):
    """The same inputs and 'encoder' parameters on every process (float64 for a tight check)."""
    gen = torch.Generator().manual_seed(seed)
    world = dist.get_world_size()
    images = torch.randn(world * BATCH_PER_RANK, IN_DIM, generator=gen, dtype=torch.float64)
    texts = torch.randn(world * BATCH_PER_RANK, IN_DIM, generator=gen, dtype=torch.float64)
    w_img = torch.randn(IN_DIM, EMB_DIM, generator=gen, dtype=torch.float64).requires_grad_()
    w_txt = torch.randn(IN_DIM, EMB_DIM, generator=gen, dtype=torch.float64).requires_grad_()
    log_scale = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)  # exp -> 7.39
    return images, texts, w_img, w_txt, log_scale


def build_codes(seed: int = 1) -> dict:
    """Global (W*B, F) image attributes and caption constraints: each caption states its id, or 1-2 categories."""
    gen = torch.Generator().manual_seed(seed)
    n = dist.get_world_size() * BATCH_PER_RANK
    attrs = torch.cat([torch.arange(n)[:, None], torch.randint(0, 2, (n, N_FIELDS - 1), generator=gen)], dim=1)
    stated = torch.rand(n, N_FIELDS, generator=gen) < 0.5
    stated[:, 0] = torch.rand(n, generator=gen) < 0.25  # a quarter of the captions name their product
    stated[~stated.any(dim=1), 1] = True  # every caption states something
    constraints = torch.where(stated, attrs, torch.full_like(attrs, UNCONSTRAINED))
    return {"image_attrs": attrs, "caption_constraints": constraints}


def forward_backward(images, texts, w_img, w_txt, log_scale, rank, world, codes):
    img_feat, txt_feat = images @ w_img, texts @ w_txt  # (B, D)
    img_feat.retain_grad()
    txt_feat.retain_grad()
    loss = clip_loss(img_feat, txt_feat, log_scale.exp(), rank=rank, world_size=world, **codes)
    loss.backward()
    return loss.detach(), img_feat.grad, txt_feat.grad


def compare(rank: int, world: int, multi_positive: bool) -> dict | None:
    """One case: the distributed loss and gradients vs one process; the verdict on rank 0, None elsewhere."""
    images, texts, w_img, w_txt, log_scale = build()
    rows = slice(rank * BATCH_PER_RANK, (rank + 1) * BATCH_PER_RANK)
    codes = build_codes() if multi_positive else {}
    local_codes = {key: value[rows] for key, value in codes.items()}

    # Distributed: this rank's slice only.
    loss, g_img_feat, g_txt_feat = forward_backward(images[rows], texts[rows], w_img, w_txt, log_scale, rank, world,
                                                    local_codes)
    mean_loss = loss.clone()
    dist.all_reduce(mean_loss)
    mean_loss /= world
    param_grads = [w_img.grad.clone(), w_txt.grad.clone(), log_scale.grad.clone()]
    for grad in param_grads:  # what DDP does: average parameter gradients over ranks
        dist.all_reduce(grad)
        grad /= world
    feat_grads = [torch.empty_like(g_img_feat) for _ in range(world)]
    dist.all_gather(feat_grads, g_img_feat)
    txt_grads = [torch.empty_like(g_txt_feat) for _ in range(world)]
    dist.all_gather(txt_grads, g_txt_feat)

    if rank == 0:
        # Reference: one process, whole batch, fresh parameters.
        _, _, ref_w_img, ref_w_txt, ref_log_scale = build()
        ref_loss, ref_g_img, ref_g_txt = forward_backward(images, texts, ref_w_img, ref_w_txt, ref_log_scale, 0, 1,
                                                          codes)
        diffs = {
            "loss": (mean_loss - ref_loss).abs().item(),
            "image_feature_grad": (torch.cat(feat_grads) / world - ref_g_img).abs().max().item(),
            "text_feature_grad": (torch.cat(txt_grads) / world - ref_g_txt).abs().max().item(),
            "image_encoder_grad": (param_grads[0] - ref_w_img.grad).abs().max().item(),
            "text_encoder_grad": (param_grads[1] - ref_w_txt.grad).abs().max().item(),
            "logit_scale_grad": (param_grads[2] - ref_log_scale.grad).abs().item(),
        }
        result = {
            "world_size": world,
            "loss": ref_loss.item(),
            "logit_scale_grad": ref_log_scale.grad.item(),
            "max_abs_diff": diffs,
        }
        if multi_positive:
            # Off-diagonal positives of the global caption x image matrix, within a rank's block and across.
            mask = positive_mask(codes["caption_constraints"], codes["image_attrs"]).fill_diagonal_(False)
            owner = torch.arange(len(mask)) // BATCH_PER_RANK
            same = owner[:, None] == owner[None, :]
            result["same_rank_positives"] = int(mask[same].sum())
            result["cross_rank_positives"] = int(mask[~same].sum())
        return result
    return None


def main(out_path: str) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    results = {case: compare(rank, world, multi_positive=case == "multi_positive")
               for case in ("plain", "multi_positive")}
    if rank == 0:
        with open(out_path, "w") as fh:
            json.dump(results, fh)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
    # Skip interpreter finalisation: autograd graphs of the gathered features still hold gloo work objects,
    # and tearing them down at exit can abort the process under load (pytorch/pytorch#179291), which would
    # fail this check after it has already written its verdict.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
