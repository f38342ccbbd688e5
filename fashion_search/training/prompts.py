"""Attribute-prompt loss: every training image, every step, classified against the names of all values
of a category field ("black", "navy blue", "olive", ... / "tshirts", "watches", ...) by the text tower.

Why: after a few epochs of InfoNCE the text embedding of a colour name already sits on the centroid
of that colour's images (measured: rank 1 of 21 for every test colour), yet P@10 for "olive" was 0.0,
because the *images* of a colour were not clustered: the in-batch loss contrasts an image with the
~14 bare colour captions a 256 batch happens to draw, so rare colours (olive, cream, steel) get
almost no signal. Scoring each image against every colour name, as CLIP's zero-shot classifier does,
gives every image a colour (and type) signal at each step, for ~190 extra short texts per step.

The loss is CLIP's two directions with the model's own logit scale: each image against all value
names (cross-entropy, over the images whose value is in the vocabulary built from the training
products), and each value present in the batch against all images (targets spread over its images),
averaged, then averaged over fields.
Labels come from the batch's `image_attrs` codes (training/attributes.py), so the data pipeline is
unchanged. Under several processes the loss equals one process on the global batch
(attribute_prompt_loss says how).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from fashion_search.catalog.captions import attribute_words
from fashion_search.catalog.products import Product
from fashion_search.model.loss import MAX_LOGIT_SCALE
from fashion_search.training.attributes import ATTR_FIELDS, attr_code

IGNORE = -100  # F.cross_entropy's ignore_index: the image's value is missing or not in the vocabulary
PROMPT_FIELD_CHOICES = tuple(f for f in ATTR_FIELDS if f != "id")  # category fields; "id" is no category


def prompt_text(value: str) -> str:
    """The bare caption the templates render for a value ("Navy  Blue" -> "navy blue")."""
    return attribute_words(value)


def field_vocabulary(products: Sequence[Product], field: str) -> list[str]:
    """Sorted distinct non-empty values of `field` among `products`."""
    return sorted({getattr(p, field) for p in products if getattr(p, field)})


def value_weights(products: Sequence[Product], field: str, values: Sequence[str], balance: float) -> torch.Tensor:
    """(V,) weight of each value in the image -> value term: count ** -balance, scaled so the average
    weight over the training products is 1 (the loss keeps its size). balance 0: all ones; 0.5: a
    colour with 100x fewer products weighs 10x more per image, so rare values (olive, cream) are not
    drowned out by black and white, as the macro-averaged "Olive" query needs."""
    counts = Counter(getattr(p, field) for p in products)
    n = torch.tensor([float(counts[v]) for v in values], dtype=torch.float64)
    w = n.clamp(min=1.0) ** -balance
    return (w * n.sum() / (w * n).sum()).float()


class AttributePrompts(torch.nn.Module):
    """Tokenized value names per field (buffers, so they follow the model's device) and their codes."""

    def __init__(self, products: Sequence[Product], fields: Sequence[str], tokenizer, max_length: int,
                 weights: Sequence[float] | None = None, balance: float = 0.0):
        super().__init__()
        if not 0.0 <= balance <= 1.0:
            raise ValueError(f"balance must be in [0, 1], got {balance}")
        self.balance = float(balance)
        unknown = [f for f in fields if f not in PROMPT_FIELD_CHOICES]
        if unknown:
            raise ValueError(f"attribute prompt fields {unknown} are not category fields of {PROMPT_FIELD_CHOICES}")
        self.fields = tuple(fields)
        self.weights = tuple(float(w) for w in weights) if weights is not None else (1.0,) * len(self.fields)
        if len(self.weights) != len(self.fields) or not all(w > 0 for w in self.weights):
            raise ValueError(f"need one positive weight per field {self.fields}, got {weights}")
        self.vocab: dict[str, list[str]] = {}
        for i, field in enumerate(self.fields):
            values = field_vocabulary(products, field)
            if len(values) < 2:
                raise ValueError(f"attribute prompt field {field} has {len(values)} value(s) among the training "
                                 "products; it needs at least 2 to classify")
            self.vocab[field] = values
            tok = tokenizer([prompt_text(v) for v in values], padding=True, truncation=True,
                            max_length=max_length, return_tensors="pt")
            self.register_buffer(f"ids_{i}", tok["input_ids"], persistent=False)  # (V, T)
            self.register_buffer(f"mask_{i}", tok["attention_mask"], persistent=False)  # (V, T)
            self.register_buffer(f"codes_{i}", torch.tensor([attr_code(v) for v in values]), persistent=False)  # (V,)
            self.register_buffer(f"class_weights_{i}", value_weights(products, field, values, self.balance),
                                 persistent=False)  # (V,)

    def class_weights(self) -> list[torch.Tensor | None]:
        """Per field, the image -> value weight of each value; None when balance is 0 (plain mean)."""
        if self.balance == 0:
            return [None] * len(self.fields)
        return [getattr(self, f"class_weights_{i}") for i in range(len(self.fields))]

    def tokens(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return getattr(self, f"ids_{i}"), getattr(self, f"mask_{i}")

    def labels(self, image_attrs: torch.Tensor) -> list[torch.Tensor]:
        """Per field, (B,) index of each image's value in the vocabulary, IGNORE when absent."""
        out = []
        for i, field in enumerate(self.fields):
            column = image_attrs[:, ATTR_FIELDS.index(field)]  # (B,) codes
            match = column.unsqueeze(1) == getattr(self, f"codes_{i}").unsqueeze(0)  # (B, V)
            out.append(torch.where(match.any(dim=1), match.int().argmax(dim=1), torch.full_like(column, IGNORE)))
        return out


def _gather_images(image: torch.Tensor, labels: Sequence[torch.Tensor], world_size: int):
    """(global images with gradient, global labels per field): the column side of value -> image."""
    if world_size == 1:
        return image, list(labels)
    import torch.distributed as dist
    import torch.distributed.nn.functional as dist_nn

    images = torch.cat(dist_nn.all_gather(image))  # backward sums every rank's gradient (loss.py's convention)
    gathered = []
    for target in labels:
        parts = [torch.empty_like(target) for _ in range(world_size)]
        dist.all_gather(parts, target)
        gathered.append(torch.cat(parts))
    return images, gathered


def _value_to_image_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """logits (V, N) value x image; each value present among the N images spreads its target evenly over
    its images (as the multi-positive InfoNCE does for a bare caption); mean over present values."""
    values = torch.arange(logits.shape[0], device=logits.device)
    match = (target.unsqueeze(0) == values.unsqueeze(1)).to(logits.dtype)  # (V, N)
    counts = match.sum(dim=1)
    present = counts > 0
    if not bool(present.any()):
        return logits.sum() * 0.0
    log_probs = torch.log_softmax(logits[present], dim=1)
    return -((match[present] / counts[present].unsqueeze(1)) * log_probs).sum(dim=1).mean()


def attribute_prompt_loss(image: torch.Tensor, prompt_features: Sequence[torch.Tensor], labels: Sequence[torch.Tensor],
                          logit_scale: torch.Tensor, world_size: int = 1,
                          field_weights: Sequence[float] | None = None,
                          class_weights: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
    """Mean over fields of weight * (image -> value + value -> image) / 2, CLIP's two directions.

    image -> value: CE(logit_scale * cos(image, value names), the image's value) over labelled images.
    value -> image: each value present in the (global) batch against all its images, targets spread
    evenly over the images that have it; this is the ranking a "navy blue" query needs.
    image (B, D) unnormalised; prompt_features[f] (V_f, D) unnormalised; labels[f] (B,) with IGNORE;
    field_weights[f] multiplies field f's term (default 1 each: the plain mean); class_weights[f] (V_f,)
    makes field f's image -> value side a weighted mean over images (None: unweighted).

    Processes: the image -> value side divides each rank's CE sum by the global label count / world_size,
    so DDP's average of the ranks' gradients is the gradient of the mean over the global batch even when
    ranks hold different numbers of labelled images. The value -> image side is computed identically on
    every rank over the gathered images (loss.py's gradient convention: the gather's backward sums, DDP
    averages), so it too equals one process on the concatenated batch.
    """
    image = F.normalize(image, dim=-1)
    scale = logit_scale.clamp(max=MAX_LOGIT_SCALE)
    all_images, all_labels = _gather_images(image, labels, world_size)
    losses = []
    class_weights = class_weights if class_weights is not None else [None] * len(prompt_features)
    for features, target, global_target, weight in zip(prompt_features, labels, all_labels, class_weights):
        names = F.normalize(features, dim=-1)  # (V, D)
        logits = scale * image @ names.T  # (B, V)
        total = F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE, reduction="sum")
        labelled = target != IGNORE
        count = (labelled.sum().to(logits.dtype) if weight is None
                 else weight[target[labelled]].sum().to(logits.dtype))  # the weighted mean's denominator
        if world_size > 1:
            import torch.distributed as dist

            count = count.detach().clone()
            dist.all_reduce(count)  # labels, not features: no gradient to route
            count = count / world_size
        # No labelled image: total is 0, so any non-zero divisor gives 0 with the graph kept for DDP. Only
        # that case is guarded: a weighted count, or a global count / world_size, may lie in (0, 1).
        image_to_value = total / torch.where(count > 0, count, torch.ones_like(count))
        value_to_image = _value_to_image_loss(scale * names @ all_images.T, global_target)  # (V, N) logits
        losses.append((image_to_value + value_to_image) / 2)
    weights = torch.as_tensor(field_weights if field_weights is not None else [1.0] * len(losses),
                              dtype=losses[0].dtype, device=losses[0].device)
    return (torch.stack(losses) * weights).mean()
