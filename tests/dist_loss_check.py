"""Run by tests/test_loss.py under `torchrun --nproc_per_node W` (gloo, CPU).

Every rank builds the same global batch (seeded), encodes its own slice with shared linear
"encoders", computes clip_loss on local rows vs gathered columns and backpropagates. Rank 0 then
compares with one process on the concatenated batch and writes the largest differences as JSON:

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

from fashion_search.loss import clip_loss

BATCH_PER_RANK, IN_DIM, EMB_DIM = 4, 6, 5


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


def forward_backward(images, texts, w_img, w_txt, log_scale, rank, world):
    img_feat, txt_feat = images @ w_img, texts @ w_txt  # (B, D)
    img_feat.retain_grad()
    txt_feat.retain_grad()
    loss = clip_loss(img_feat, txt_feat, log_scale.exp(), rank=rank, world_size=world)
    loss.backward()
    return loss.detach(), img_feat.grad, txt_feat.grad


def main(out_path: str) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    images, texts, w_img, w_txt, log_scale = build()
    rows = slice(rank * BATCH_PER_RANK, (rank + 1) * BATCH_PER_RANK)

    # Distributed: this rank's slice only.
    loss, g_img_feat, g_txt_feat = forward_backward(images[rows], texts[rows], w_img, w_txt, log_scale, rank, world)
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
        ref_loss, ref_g_img, ref_g_txt = forward_backward(images, texts, ref_w_img, ref_w_txt, ref_log_scale, 0, 1)
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
        with open(out_path, "w") as fh:
            json.dump(result, fh)
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
