"""The training job's one config: a dataclass parsed from the CLI and validated before any work.

Recipe fields (epochs, batch_size, lr, weight_decay, warmup_ratio, max_grad_norm, attribute_loss_weight)
default to None and resolve per model kind in __post_init__; an explicit flag always wins:
  pretrained CLIP (hub id or dir): the seed recipe, AdamW lr 5e-5, 32 pairs per device, 3 epochs, no
    attribute-prompt loss
  `small` (from scratch): lr 1e-3, 256 pairs, SMALL_EPOCHS = 16 epochs, attribute-prompt loss weight 1.0
    (21-24 min on an idle 2-core CPU)
Both: bidirectional InfoNCE over the global batch (multi-positive soft targets by default: --multi-positive),
AdamW betas (0.9, 0.98) eps 1e-6 wd 0.1, 5% linear warmup then cosine, grad clip 1.0, resume-safe checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from fashion_search.cli import ConfigError, parse_dataclass
from fashion_search.model.clip import DEFAULT_MODEL, SMALL_NAME, SMALL_PRESET
from fashion_search.training.image_cache import CACHE_CHOICES
from fashion_search.training.prompts import PROMPT_FIELD_CHOICES

# `--small_<key>` flags map onto SMALL_PRESET keys; only meaningful with --model small.
SMALL_OVERRIDE_PREFIX = "small_"

# Fields a resumed run must share with the checkpoint's run: they change the model, the data order
# or the learning-rate schedule, so resuming with a different value would not continue that run.
RESUME_MUST_MATCH = (
    "model", "catalog", "subsample", "val_frac", "test_frac", "seed", "epochs", "batch_size",
    "grad_accum", "lr", "weight_decay", "warmup_ratio", "freeze_vision", "freeze_text", "multi_positive",
    "group_fraction", "group_size", "attribute_loss_weight", "attribute_loss_fields", "attribute_loss_balance",
    "small_image_size", "small_patch_size", "small_vision_hidden", "small_vision_layers",
    "small_text_hidden", "small_text_layers", "small_heads", "small_mlp_ratio",
    "small_projection_dim", "small_vocab_size", "small_max_position_embeddings",
)
# What a checkpoint saved before a RESUME_MUST_MATCH field existed was trained with.
RESUME_LEGACY_VALUES = {"multi_positive": False, "group_fraction": 0.0, "group_size": 16,
                        "attribute_loss_weight": 0.0, "attribute_loss_fields": "baseColour,articleType",
                        "attribute_loss_balance": 0.0}
MIXED_PRECISION_CHOICES = ("auto", "no", "bf16", "fp16")

# Per-model-kind defaults of the recipe fields (those left None on the command line).
# Seed recipe: fine-tuning a pretrained CLIP, the usual small-lr, few-epoch regime.
SEED_RECIPE = dict(epochs=3, batch_size=32, lr=5e-5, weight_decay=0.1, warmup_ratio=0.05, max_grad_norm=1.0,
                   attribute_loss_weight=0.0)
# From-scratch `small` (experiments/tune_small_results.md, docs/results.md): a large lr and a large batch (more negatives),
# and as many epochs as fit the 30-minute budget on a 2-core CPU with the image cache, plus the
# attribute-prompt loss (training/prompts.py, both directions, weight 1.0). `make train MODEL=small` on an
# otherwise idle 2-core box: 16 epochs in 21-24 min end to end (the host's speed varied 1.4-2.3 steps/s);
# test split: name->image R@10 0.696, articleType P@10 0.849, baseColour P@10 0.695. Without the
# attribute loss: 0.708 / 0.843 / 0.620; with its image->value half only (weight 0.5): 0.700 /
# 0.857 / 0.660.
SMALL_EPOCHS = 16
SMALL_ATTRIBUTE_LOSS_WEIGHT = 1.0
SMALL_RECIPE = dict(epochs=SMALL_EPOCHS, batch_size=256, lr=1e-3, weight_decay=0.1, warmup_ratio=0.05,
                    max_grad_norm=1.0, attribute_loss_weight=SMALL_ATTRIBUTE_LOSS_WEIGHT)
RECIPE_FIELDS = tuple(SEED_RECIPE)
DEFAULT_NUM_WORKERS = 2  # per-sample decoding; 0 when images come from the in-memory cache


def _help(text: str, **kw):
    return field(metadata={"help": text}, **kw)


@dataclass
class TrainConfig:
    model: str = _help(f"HF hub id, local save_pretrained dir, or '{SMALL_NAME}' (from-scratch preset)",
                       default=DEFAULT_MODEL)
    catalog: str | None = _help("catalog path: Kaggle dir (styles.csv + images/) or parquet dir/file", default=None)
    splits: str | None = _help("splits JSON (train/val/test ids); created there if absent. "
                               "Default: OUTPUT_DIR/splits.json", default=None)
    subsample: int = _help("train on a quality subsample of this many train-split products (0 = all)", default=0)
    val_frac: float = _help("fraction of ids for the val split (when splits are created)", default=0.05)
    test_frac: float = _help("fraction of ids for the test split (when splits are created)", default=0.05)
    max_val_products: int = _help("evaluate on at most this many val products (seeded sample; 0 = all)",
                                  default=2000)
    epochs: int | None = _help("training epochs (default: 3 pretrained, SMALL_EPOCHS small)", default=None)
    batch_size: int | None = _help("pairs per device per step (the loss sees batch_size * processes negatives); "
                                   "default: 32 pretrained, 256 small", default=None)
    eval_batch_size: int = _help("batch size for eval encoding and val loss chunks", default=128)
    lr: float | None = _help("AdamW peak learning rate (default: 5e-5 pretrained, 1e-3 small)", default=None)
    weight_decay: float | None = _help("AdamW weight decay, not applied to biases, norms, logit scale "
                                       "(default 0.1)", default=None)
    warmup_ratio: float | None = _help("fraction of optimizer steps of linear warmup before cosine decay "
                                       "(default 0.05)", default=None)
    grad_accum: int = _help("gradient accumulation steps (averages gradients; the contrastive negatives "
                            "stay those of one micro-batch)", default=1)
    max_grad_norm: float | None = _help("clip gradient norm to this (0 = off; default 1.0)", default=None)
    multi_positive: bool = _help("caption-aware soft targets: a caption counts every image in the global batch "
                                 "that has the attributes it states as a positive ('tshirts' -> every T-shirt; "
                                 "a caption with the product name -> its own image only). false = one-hot "
                                 "InfoNCE. Val loss is one-hot InfoNCE on canonical captions either way",
                                 default=True)
    attribute_loss_weight: float | None = _help(
        "weight of the attribute-prompt loss: each image classified against the names of all values of "
        "--attribute-loss-fields by the text tower (training/prompts.py); 0 = off. Default: 0 pretrained, "
        f"{SMALL_ATTRIBUTE_LOSS_WEIGHT} small", default=None)
    attribute_loss_fields: str = _help("comma-separated category fields for the attribute-prompt loss, each "
                                       "with an optional relative weight: baseColour:2,articleType (weight 1)",
                                       default="baseColour,articleType")
    attribute_loss_balance: float = _help(
        "weight each image's image -> value term by its value's training count ** -balance (0 = every image "
        "the same; 0.5 = inverse square root, rare colours and types count more), in [0, 1]", default=0.0)
    group_fraction: float = _help("fraction of each epoch's products drawn in runs of --group-size products "
                                  "of one articleType (in-batch hard negatives for colour, gender, usage); "
                                  "0 = plain shuffle", default=0.0)
    group_size: int = _help("products per same-articleType run (see --group-fraction)", default=16)
    mixed_precision: str = _help("auto (fp16/bf16 set in accelerate config, else bf16 on a bf16 GPU, else no) "
                                 "| no | bf16 | fp16",
                                 default="auto")
    freeze_vision: bool = _help("freeze the vision tower and its projection", default=False)
    freeze_text: bool = _help("freeze the text tower and its projection", default=False)
    gradient_checkpointing: bool = _help("trade compute for memory in both towers", default=False)
    num_workers: int | None = _help("DataLoader worker processes for the training/eval batches. Default: 0 "
                                    "with the image cache (on 2 cores workers only add copies and "
                                    "contention: the step is compute-bound), 2 without", default=None)
    image_cache: str = _help("auto | on | off: decode each train/val image once into an in-memory uint8 "
                             "tensor and augment on tensors. auto = on when it fits 2 GB and the model's "
                             "images are <= 96 px (the small preset); off = decode per sample in workers "
                             "(ViT-B/32 at 224 on GPUs). Under several processes each caches the full "
                             "train set (every rank samples from all of it)", default="auto")
    cache_workers: int = _help("DataLoader workers that decode images into the cache (once, at start)",
                               default=min(4, os.cpu_count() or 1))
    output_dir: str = _help("run directory: checkpoints/, best/, final/, report.*", default="runs/train")
    checkpoint_every: int = _help("save a resumable checkpoint every N optimizer steps (and at epoch ends)",
                                  default=500)
    keep_last: int = _help("keep only the last K checkpoints", default=3)
    resume: str | None = _help("'latest' (newest checkpoint in OUTPUT_DIR) or a checkpoint directory",
                               default=None)
    stop_after_steps: int = _help("stop (with a checkpoint) after this many optimizer steps in total, "
                                  "without changing the LR schedule; 0 = run to the end", default=0)
    eval_before_training: bool = _help("measure the zero-shot baseline (epoch 0) before training", default=True)
    log_every: int = _help("log the running loss every N optimizer steps", default=50)
    seed: int = _help("seed for splits, subsample, shuffling, captions, augmentation and small init", default=42)
    small_image_size: int | None = _help("small preset: image side in px", default=None)
    small_patch_size: int | None = _help("small preset: ViT patch size", default=None)
    small_vision_hidden: int | None = _help("small preset: vision width", default=None)
    small_vision_layers: int | None = _help("small preset: vision layers", default=None)
    small_text_hidden: int | None = _help("small preset: text width", default=None)
    small_text_layers: int | None = _help("small preset: text layers", default=None)
    small_heads: int | None = _help("small preset: attention heads (both towers)", default=None)
    small_mlp_ratio: int | None = _help("small preset: MLP width / hidden width", default=None)
    small_projection_dim: int | None = _help("small preset: embedding dimension", default=None)
    small_vocab_size: int | None = _help("small preset: tokenizer vocabulary size", default=None)
    small_max_position_embeddings: int | None = _help("small preset: max caption tokens", default=None)

    def __post_init__(self):
        self.recipe_source = self._resolve_recipe()
        positive = ("epochs", "batch_size", "eval_batch_size", "grad_accum", "checkpoint_every", "keep_last",
                    "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(self, name)})")
        for name in ("subsample", "max_val_products", "num_workers", "stop_after_steps", "cache_workers"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 0 (got {getattr(self, name)})")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be > 0 (got {self.lr})")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            raise ConfigError("--weight-decay and --max-grad-norm must be >= 0")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"--warmup-ratio must be in [0, 1) (got {self.warmup_ratio})")
        if not (0 < self.val_frac < 1 and 0 <= self.test_frac < 1 and self.val_frac + self.test_frac < 1):
            raise ConfigError(f"--val-frac ({self.val_frac}) must be in (0, 1), --test-frac ({self.test_frac}) "
                              "in [0, 1), and their sum below 1")
        if self.attribute_loss_weight < 0:
            raise ConfigError(f"--attribute-loss-weight must be >= 0 (got {self.attribute_loss_weight})")
        if self.attribute_loss_weight > 0:
            self.attribute_loss_field_weights()  # raises ConfigError naming the fix
        if not 0.0 <= self.attribute_loss_balance <= 1.0:
            raise ConfigError(f"--attribute-loss-balance must be in [0, 1] (got {self.attribute_loss_balance})")
        if not 0 <= self.group_fraction <= 1 or self.group_size < 1:
            raise ConfigError(f"--group-fraction must be in [0, 1] (got {self.group_fraction}) and --group-size "
                              f">= 1 (got {self.group_size})")
        if self.image_cache not in CACHE_CHOICES:
            raise ConfigError(f"--image-cache must be one of {CACHE_CHOICES} (got {self.image_cache!r})")
        if self.mixed_precision not in MIXED_PRECISION_CHOICES:
            raise ConfigError(f"--mixed-precision must be one of {MIXED_PRECISION_CHOICES} (got {self.mixed_precision!r})")
        if self.freeze_vision and self.freeze_text:
            raise ConfigError("--freeze-vision and --freeze-text together leave nothing to train; drop one")
        if self.small_overrides() and self.model != SMALL_NAME:
            raise ConfigError(f"--small-* flags ({sorted(self.small_overrides())}) only apply with --model {SMALL_NAME}")
        self._check_paths()

    def attribute_loss_field_weights(self) -> dict[str, float]:
        """{field: relative weight} from "baseColour:2,articleType" (a field without ":w" weighs 1)."""
        usage = (f"--attribute-loss-fields {self.attribute_loss_fields!r}: use a comma-separated subset of "
                 f"{','.join(PROMPT_FIELD_CHOICES)}, each optionally with :weight (> 0), e.g. baseColour:2,articleType")
        weights: dict[str, float] = {}
        for item in (part.strip() for part in self.attribute_loss_fields.split(",")):
            if not item:
                continue
            name, _, weight = (part.strip() for part in item.partition(":"))
            try:
                value = float(weight) if weight else 1.0
            except ValueError:
                raise ConfigError(usage) from None
            if name not in PROMPT_FIELD_CHOICES or name in weights or not (value > 0 and math.isfinite(value)):
                raise ConfigError(usage)
            weights[name] = value
        if not weights:
            raise ConfigError(usage)
        return weights

    def _resolve_recipe(self) -> dict:
        """Fill the recipe fields left None from the model kind's recipe; {field: "flag" | recipe name}."""
        name, recipe = ("small", SMALL_RECIPE) if self.model == SMALL_NAME else ("seed", SEED_RECIPE)
        source = {}
        for key in RECIPE_FIELDS:
            if getattr(self, key) is None:
                setattr(self, key, recipe[key])
                source[key] = name
            else:
                source[key] = "flag"
        return source

    def recipe_summary(self) -> str:
        """One line naming each recipe value and where it came from (recipe default or flag)."""
        parts = [f"{key}={getattr(self, key)} ({self.recipe_source[key]})" for key in RECIPE_FIELDS]
        return "recipe: " + ", ".join(parts) + ", AdamW betas (0.9, 0.98) eps 1e-6, warmup + cosine"

    def loader_workers(self, cached: bool) -> int:
        if self.num_workers is not None:
            return self.num_workers
        return 0 if cached else DEFAULT_NUM_WORKERS

    def _check_paths(self) -> None:
        if not self.catalog:
            raise ConfigError("--catalog is required: a Kaggle dir (styles.csv + images/) or a parquet dir/file, "
                              "e.g. ../shared/data/fashion-product-images-small")
        if not Path(self.catalog).exists():
            raise ConfigError(f"--catalog {self.catalog} does not exist; check the path")
        model_path = Path(self.model).expanduser()
        if model_path.exists() and not (model_path / "config.json").is_file():
            raise ConfigError(f"--model {self.model} exists but is not a save_pretrained CLIP directory (no config.json)")
        if not model_path.exists() and self.model != SMALL_NAME and (
            self.model.startswith((".", "/", "~")) or self.model.count("/") > 1
        ):
            raise ConfigError(f"--model directory {self.model} does not exist; pass a local CLIP directory, "
                              f"a hub id like {DEFAULT_MODEL}, or '{SMALL_NAME}'")
        if self.resume and self.resume != "latest" and not Path(self.resume).is_dir():
            raise ConfigError(f"--resume {self.resume} is not a directory; pass 'latest' or a checkpoint directory "
                              f"(OUTPUT_DIR/checkpoints/step_*)")

    def small_overrides(self) -> dict:
        """The --small-* flags that were set, keyed like models.SMALL_PRESET."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name.startswith(SMALL_OVERRIDE_PREFIX) and getattr(self, f.name) is not None:
                out[f.name[len(SMALL_OVERRIDE_PREFIX):]] = getattr(self, f.name)
        assert set(out) <= set(SMALL_PRESET), f"small flags out of sync with SMALL_PRESET: {set(out) - set(SMALL_PRESET)}"
        return out

    def resolved_mixed_precision(self, cuda_bf16: bool) -> str:
        """'auto': fp16/bf16 from the accelerate config if it names one, else bf16 on a bf16 GPU, else no.

        `accelerate launch` exports ACCELERATE_MIXED_PRECISION="no" even when nobody configured it, so
        "no" from the launcher cannot mean "keep fp32 on this GPU"; pass --mixed-precision no for that.
        """
        if self.mixed_precision != "auto":
            return self.mixed_precision
        from_launcher = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
        if from_launcher != "no":
            return from_launcher
        return "bf16" if cuda_bf16 else "no"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)  # the resolved recipe values (recipe_source is not a field)


def check_resume_compatible(current: TrainConfig, saved: dict, checkpoint: Path, num_processes: int,
                            saved_num_processes: int | None) -> None:
    """Refuse to resume a checkpoint written by a run whose model, data order or schedule differ."""
    def saved_value(name):
        return saved.get(name, RESUME_LEGACY_VALUES.get(name))

    diffs = [f"{name}: checkpoint {saved_value(name)!r} vs now {getattr(current, name)!r}"
             for name in RESUME_MUST_MATCH if saved_value(name) != getattr(current, name)]
    if saved_num_processes is not None and saved_num_processes != num_processes:
        diffs.append(f"processes: checkpoint {saved_num_processes} vs now {num_processes} (changes the data order)")
    if diffs:
        raise ConfigError(f"cannot resume from {checkpoint}: it comes from an incompatible run ("
                          + "; ".join(diffs) + "). Use the same flags, or a new --output-dir without --resume.")


def parse_config(argv=None) -> TrainConfig:
    # ConfigError reaches the caller: train/train.py reports it (and the later resume check) as one line.
    return parse_dataclass(TrainConfig, argv, prog="train/train.py", description="Fine-tune CLIP on a fashion catalog",
                           exit_on_error=False)


def save_config(config: TrainConfig, path: Path, **extra) -> None:
    Path(path).write_text(json.dumps({**config.to_dict(), **extra}, indent=2, sort_keys=True))
