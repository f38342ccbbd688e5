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

Multi-positive targets (opt-in: pass `image_attrs` and `caption_constraints`): a caption such as
"tshirts" describes every T-shirt in the batch, not only the one it was drawn for; with one-hot labels
the other ~45 T-shirts of a 256 batch would be pushed away from it as negatives. Each caption carries
the attribute values it states (codes, -1 = unconstrained) and each image its product's codes; caption
i and image j match when every stated value equals the image's. The targets are those match rows
normalised to sum 1 (the caption's own image always counts), so cross-entropy spreads the caption's
probability over all the images it describes; image->text uses the same matrix seen from the image
(the captions that describe it). Codes are gathered without gradient (they are labels), so every
rank builds its rows of the same global matrix and the gradient convention above still holds. When
the match matrix is the identity the loss is exactly the one-hot InfoNCE. The loss then has a floor
above 0 (the entropy of the targets), so its values are not comparable with one-hot InfoNCE's.

Logit scale: callers pass `model.logit_scale.exp()`. It is clamped here at 100 like CLIP, and
the trainer also clamps the parameter itself after every optimizer step (`clamp_logit_scale_`),
as open_clip does, so it never sits above the clamp where its gradient would be zero.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_LOGIT_SCALE = 100.0
UNCONSTRAINED = -1  # a caption constraint code: the caption says nothing about this field


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


def gather_codes(codes: torch.Tensor, world_size: int) -> torch.Tensor:
    """Concatenate (B, F) integer codes from all processes into (W*B, F), in rank order; no gradient."""
    if world_size == 1:
        return codes
    import torch.distributed as dist

    parts = [torch.empty_like(codes) for _ in range(world_size)]
    dist.all_gather(parts, codes.contiguous())
    return torch.cat(parts, dim=0)


def positive_mask(caption_constraints: torch.Tensor, image_attrs: torch.Tensor, set_columns: int = 0) -> torch.Tensor:
    """(N, F) constraints vs (M, F) attributes -> (N, M) bool: caption i describes image j.

    A caption describes an image when every field it constrains (code != UNCONSTRAINED) has the
    image's code. Image codes for missing values must be distinct from every constraint code.
    The last `set_columns` columns are a set instead (a product's name words): each value the caption
    states there must be somewhere in the image's set, in any column.
    """
    fields = caption_constraints.shape[1] - set_columns
    constraints = caption_constraints[:, None, :fields]  # (N, 1, F')
    mask = ((constraints == UNCONSTRAINED) | (constraints == image_attrs[None, :, :fields])).all(dim=-1)
    if set_columns:
        words = caption_constraints[:, None, fields:, None]  # (N, 1, S, 1)
        in_set = (words == image_attrs[None, :, None, fields:]).any(dim=-1)  # (N, M, S)
        mask &= ((words[..., 0] == UNCONSTRAINED) | in_set).all(dim=-1)
    return mask


def _soft_targets(mask: torch.Tensor, own: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Bool (B, W*B) positives -> rows summing to 1, with each row's own pair `own[i]` always positive."""
    mask = mask.clone()
    mask[torch.arange(mask.shape[0], device=mask.device), own] = True
    targets = mask.to(dtype)
    return targets / targets.sum(dim=1, keepdim=True)


def clip_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    logit_scale: torch.Tensor | float,
    rank: int = 0,
    world_size: int = 1,
    image_attrs: torch.Tensor | None = None,
    caption_constraints: torch.Tensor | None = None,
    set_columns: int = 0,
) -> torch.Tensor:
    """Mean of image->text and text->image cross-entropy for this rank's B pairs.

    image_features, text_features: (B, D), row i of each is a matching pair; they are
    L2-normalised here (so raw projections may be passed). logit_scale: exp of the model's
    parameter (scalar tensor or float). image_attrs, caption_constraints: optional (B, F) int64
    codes (see the module docstring); given, every caption/image pair that matches is a positive
    (soft targets), else only the diagonal (one-hot labels); set_columns: see positive_mask. Returns a
    scalar: this rank's loss L_r; the mean of L_r over ranks equals the loss of one process on the
    concatenated batch.
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
    if image_attrs is None and caption_constraints is None:
        return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2
    if image_attrs is None or caption_constraints is None:
        raise ValueError("multi-positive loss needs both image_attrs and caption_constraints (or neither)")
    if image_attrs.shape != caption_constraints.shape or image_attrs.shape[0] != batch or image_attrs.dim() != 2:
        raise ValueError(f"image_attrs and caption_constraints must both be (B={batch}, F); got "
                         f"{tuple(image_attrs.shape)} and {tuple(caption_constraints.shape)}")
    image_attrs = image_attrs.to(image_features.device)
    caption_constraints = caption_constraints.to(image_features.device)
    all_attrs = gather_codes(image_attrs, world_size)  # (W*B, F)
    all_constraints = gather_codes(caption_constraints, world_size)  # (W*B, F)
    text_targets = _soft_targets(positive_mask(caption_constraints, all_attrs, set_columns), labels,
                                 logits_per_text.dtype)
    # Image i's positives are the captions (from any rank) that describe it: column i of the global matrix.
    image_targets = _soft_targets(positive_mask(all_constraints, image_attrs, set_columns).T, labels,
                                  logits_per_image.dtype)
    return (F.cross_entropy(logits_per_image, image_targets) + F.cross_entropy(logits_per_text, text_targets)) / 2


@torch.no_grad()
def clamp_logit_scale_(logit_scale_param: torch.nn.Parameter) -> None:
    """Clamp the log-scale parameter in place to [0, ln 100] (call after each optimizer step)."""
    logit_scale_param.clamp_(0, math.log(MAX_LOGIT_SCALE))
