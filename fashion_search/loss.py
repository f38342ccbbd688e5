"""Bidirectional InfoNCE (the CLIP loss) with features gathered across processes.

Every process sees the *global* batch as negatives: features are all-gathered with gradients
(`torch.distributed.nn.functional.all_gather`), and each rank scores its own rows against all
columns, with its labels offset by `rank * B`. A plain `accelerator.gather` would carry no gradient,
so negatives from other GPUs would push nothing back.

Gradient convention (checked by tests/dist_loss_check.py): the all_gather backward sums the
gradients every rank's loss sends to a feature, so after `loss.backward()` rank r holds
`d(sum_s L_s)/d x_r = W * dL/d x_r` for its local features x_r, where L = mean_s L_s is the
loss of one process on the concatenated batch. DDP then *averages* parameter gradients over the
W ranks, which cancels the factor W: parameters receive exactly dL/dtheta, as single-process
training on the global batch would. `logit_scale` is replicated (not gathered), so its per-rank
gradient is dL_r/ds and the DDP average is dL/ds.

Logit scale: callers pass `model.logit_scale.exp()`. It is clamped here at 100 like CLIP, and
the trainer also clamps the parameter itself after every optimizer step (`clamp_logit_scale_`),
as open_clip does, so it never sits above the clamp where its gradient would be zero.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_LOGIT_SCALE = 100.0


def gather_features(
    image_features: torch.Tensor, text_features: torch.Tensor, rank: int, world_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate (B, D) features from all `world_size` processes into (W*B, D), keeping gradients.

    Rows [rank*B, (rank+1)*B) are this process's own tensors. Every process must pass the same B
    (the trainer drops the last incomplete batch).
    """
    if world_size == 1:
        return image_features, text_features
    import torch.distributed as dist
    import torch.distributed.nn.functional as dist_nn

    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError(
            f"gather_features called with world_size={world_size} but torch.distributed is not "
            "initialised; launch with `accelerate launch` / `torchrun` or pass world_size=1"
        )
    if dist.get_rank() != rank or dist.get_world_size() != world_size:
        raise ValueError(
            f"rank/world_size ({rank}/{world_size}) disagree with torch.distributed "
            f"({dist.get_rank()}/{dist.get_world_size()}); pass accelerator.process_index / num_processes"
        )
    # The autograd-aware all_gather routes each chunk's gradient back to the rank that owns it
    # (summed over ranks), so negatives from other processes train this process's encoders.
    all_image = torch.cat(dist_nn.all_gather(image_features), dim=0)
    all_text = torch.cat(dist_nn.all_gather(text_features), dim=0)
    return all_image, all_text


def clip_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    logit_scale: torch.Tensor | float,
    rank: int = 0,
    world_size: int = 1,
) -> torch.Tensor:
    """Mean of image->text and text->image cross-entropy for this rank's B pairs.

    image_features, text_features: (B, D), row i of each is a matching pair; they are
    L2-normalised here (so raw projections may be passed). logit_scale: exp of the model's
    parameter (scalar tensor or float). Returns a scalar: this rank's loss L_r; the mean of L_r
    over ranks equals the loss of one process on the concatenated batch.
    """
    if image_features.shape != text_features.shape or image_features.dim() != 2:
        raise ValueError(
            f"image and text features must both be (B, D); got {tuple(image_features.shape)} "
            f"and {tuple(text_features.shape)}"
        )
    image_features = F.normalize(image_features, dim=-1)
    text_features = F.normalize(text_features, dim=-1)
    scale = torch.as_tensor(logit_scale, dtype=image_features.dtype, device=image_features.device)
    scale = scale.clamp(max=MAX_LOGIT_SCALE)

    all_image, all_text = gather_features(image_features, text_features, rank, world_size)
    batch = image_features.shape[0]
    logits_per_image = scale * image_features @ all_text.T  # (B, W*B): local images vs all texts
    logits_per_text = scale * text_features @ all_image.T  # (B, W*B): local texts vs all images
    labels = torch.arange(batch, device=image_features.device) + rank * batch
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2


@torch.no_grad()
def clamp_logit_scale_(logit_scale_param: torch.nn.Parameter) -> None:
    """Clamp the log-scale parameter in place to [0, ln 100] (call after each optimizer step)."""
    logit_scale_param.clamp_(0, math.log(MAX_LOGIT_SCALE))
