"""Building blocks of a training run: products per split, the model, optimizer and schedule.

Each function takes the validated TrainConfig and the Accelerator, does one job, and logs what it
chose, so train/train.py reads as a list of steps.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import get_cosine_schedule_with_warmup

from fashion_search.catalog.captions import training_captions
from fashion_search.catalog.products import Catalog, Product, open_catalog
from fashion_search.catalog.splits import load_splits, quality_subsample, save_splits, split_ids
from fashion_search.model.clip import SMALL_NAME, build_small, load_clip
from fashion_search.model.embed import image_features, text_features, text_features_bucketed
from fashion_search.training.config import ConfigError, TrainConfig

log = logging.getLogger(__name__)

SPLITS_FILE_NAME = "splits.json"  # evaluate.py looks for this next to (or one level above) a model
BASE_MODEL_DIRNAME = "base_model"  # where the `small` preset is built before training


@dataclass
class RunData:
    catalog: Catalog
    train: list[Product]
    val: list[Product]
    splits_path: Path


def splits_path(config: TrainConfig) -> Path:
    return Path(config.splits) if config.splits else Path(config.output_dir) / SPLITS_FILE_NAME


def load_run_data(config: TrainConfig, accelerator) -> RunData:
    """Catalog -> splits (loaded, or created by the main process) -> train (optionally subsampled) and val."""
    catalog = open_catalog(config.catalog)
    products = list(catalog.products())
    if not products:
        raise ConfigError(f"catalog {config.catalog} has no usable products ({catalog.report.summary()})")
    path = splits_path(config)
    with accelerator.main_process_first():
        if not path.is_file() and accelerator.is_main_process:
            save_splits(path, split_ids([p.id for p in products], config.seed, config.val_frac, config.test_frac))
            log.info("created splits %s (seed %d, val %.2f, test %.2f)", path, config.seed, config.val_frac,
                     config.test_frac)
        splits = load_splits(path)
    by_id = {p.id: p for p in products}
    missing = {name: sum(i not in by_id for i in ids) for name, ids in splits.items()}
    if any(missing.values()):
        log.warning("splits %s name ids the catalog lacks (left out): %s", path, missing)
    train = [by_id[i] for i in splits["train"] if i in by_id]
    val = [by_id[i] for i in splits["val"] if i in by_id]
    if config.subsample:
        train = quality_subsample(train, config.subsample, config.seed)
    if config.max_val_products and len(val) > config.max_val_products:
        # A seeded sample, re-sorted by id, so every epoch and every resume scores the same products.
        val = sorted(random.Random(config.seed).sample(val, config.max_val_products), key=lambda p: p.id)
    needed = config.batch_size * accelerator.num_processes
    if len(train) < needed:
        raise ConfigError(f"only {len(train)} training products but one step needs {needed} "
                          f"(--batch-size {config.batch_size} x {accelerator.num_processes} processes); "
                          "lower --batch-size or use a larger catalog / --subsample")
    if len(val) < 2:
        raise ConfigError(f"the val split has {len(val)} products in this catalog; raise --val-frac or use "
                          "a larger catalog")
    log.info("products: %d train, %d val (splits %s)", len(train), len(val), path)
    return RunData(catalog, train, val, path)


def load_pretrained(config: TrainConfig, accelerator):
    """(CLIPModel, CLIPProcessor) for a hub id or local dir, else None for `small`.

    Called before any data work, so a missing or offline model fails at once (ModelLoadError).
    """
    if config.model == SMALL_NAME:
        return None
    with accelerator.main_process_first():  # one process fills the HF cache, the others read it
        return load_clip(config.model)


def build_small_model(config: TrainConfig, train: list[Product], accelerator, resuming: bool):
    """Build the `small` preset (tokenizer trained on the train captions) once, then load it on every process."""
    base = Path(config.output_dir) / BASE_MODEL_DIRNAME
    with accelerator.main_process_first():
        # A resumed run must keep the tokenizer its checkpoint was trained with.
        if accelerator.is_main_process and not (resuming and (base / "config.json").is_file()):
            captions = (c for p in train for c in training_captions(p))
            build_small(captions, base, seed=config.seed, **config.small_overrides())
        model, processor = load_clip(str(base))
    return model, processor, str(base)


def configure_model(model, config: TrainConfig) -> None:
    """Freeze towers and enable gradient checkpointing as asked."""
    frozen = []
    if config.freeze_vision:
        frozen += [model.vision_model, model.visual_projection]
    if config.freeze_text:
        frozen += [model.text_model, model.text_projection]
    for module in frozen:
        module.requires_grad_(False)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("trainable parameters: %.2fM of %.2fM", trainable / 1e6, sum(p.numel() for p in model.parameters()) / 1e6)


# Length-sorted chunks the text tower runs per training batch (embed.text_features_bucketed): 4 cut
# the padded text tokens of a 256-caption batch from ~7,700 to ~3,500; more chunks save little more
# and run smaller, less efficient matmuls.
TEXT_BUCKETS = 4


class DualEncoder(torch.nn.Module):
    """Both towers and the logit scale in one forward, so DDP sees every trained parameter used there.

    Calling `get_text_features` on a DDP-wrapped model would bypass DDP's forward, and a logit scale
    read outside forward would count as an unused parameter.
    """

    def __init__(self, clip, prompts=None):
        super().__init__()
        self.clip = clip
        self.prompts = prompts  # training/prompts.AttributePrompts or None: value names encoded each step

    def forward(self, pixel_values, input_ids, attention_mask):
        """(image (B, D), text (B, D), logit scale, [per prompt field (V, D)]) as float32."""
        # float(): under bf16 autocast the loss (softmax over the global batch) stays in fp32.
        image = image_features(self.clip, pixel_values).float()  # (B, D)
        text = text_features_bucketed(self.clip, input_ids, attention_mask, TEXT_BUCKETS).float()  # (B, D)
        prompt_features = []
        if self.prompts is not None:
            for i in range(len(self.prompts.fields)):
                ids, mask = self.prompts.tokens(i)
                prompt_features.append(text_features(self.clip, input_ids=ids, attention_mask=mask).float())
        return image, text, self.clip.logit_scale.exp().float(), prompt_features


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases, norms and the logit scale (as CLIP/open_clip)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "logit_scale" in name else decay).append(param)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.98), eps=1e-6)


def build_scheduler(optimizer, config: TrainConfig, batches_per_epoch: int):
    """Linear warmup then cosine decay to 0 over all optimizer steps of all epochs; returns (scheduler, total)."""
    steps_per_epoch = -(-batches_per_epoch // config.grad_accum)  # the last partial accumulation still steps
    total = steps_per_epoch * config.epochs
    warmup = round(config.warmup_ratio * total)
    log.info("schedule: %d optimizer steps (%d per epoch), %d warmup", total, steps_per_epoch, warmup)
    return get_cosine_schedule_with_warmup(optimizer, warmup, total), total


def fresh_accelerator(**kwargs):
    """An Accelerator built anew: accelerate's process-wide singletons are reset first, so a job can be
    built several times in one process (tests, the benchmark) with other settings. cpu=True without CUDA:
    accelerate only sets up multi-process CPU (gloo) training under torchrun / `accelerate launch` when
    told the run is on CPU."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state()
    GradientState._reset_state()
    return Accelerator(cpu=not torch.cuda.is_available(), **kwargs)


def make_accelerator(config: TrainConfig):
    """The trainer's Accelerator (processes, device, mixed precision), fresh each call."""
    cuda_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return fresh_accelerator(mixed_precision=config.resolved_mixed_precision(cuda_bf16),
                             gradient_accumulation_steps=config.grad_accum, step_scheduler_with_optimizer=False)


def build_training_parts(accelerator, config: TrainConfig, catalog: Catalog, train: list[Product], clip, processor,
                         cache, workers: int):
    """Pairs dataset, its sampler and loader, the dual encoder, optimizer and warmup+cosine schedule, prepared.

    Returns (dataset, sampler, loader, model, optimizer, scheduler, total_steps); the schedule is sized on
    this process's share of the batches. drop_last keeps every step's batch full.
    """
    from torch.utils.data import DataLoader

    from fashion_search.model.embed import ImagePreprocessor, text_max_length
    from fashion_search.training.data import EpochShuffleSampler, PairCollator, PairDataset

    dataset = PairDataset(catalog, train, ImagePreprocessor(processor.image_processor), config.seed, train=True,
                          cache=cache)
    sampler = EpochShuffleSampler(len(dataset), config.seed, groups=[p.articleType for p in train],
                                  group_fraction=config.group_fraction, group_size=config.group_size)
    max_length = text_max_length(clip, processor.tokenizer)
    loader = DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, drop_last=True,
                        num_workers=workers, pin_memory=torch.cuda.is_available(),
                        collate_fn=PairCollator(processor.tokenizer, max_length))
    prompts = None
    if config.attribute_loss_weight > 0:
        from fashion_search.training.prompts import AttributePrompts

        field_weights = config.attribute_loss_field_weights()
        prompts = AttributePrompts(train, list(field_weights), processor.tokenizer, max_length,
                                   weights=list(field_weights.values()), balance=config.attribute_loss_balance)
        log.info("attribute-prompt loss (weight %g, balance %g): %s", config.attribute_loss_weight,
                 config.attribute_loss_balance,
                 ", ".join(f"{f} {len(v)} values x{w:g}" for (f, v), w in zip(prompts.vocab.items(), prompts.weights)))
    model = DualEncoder(clip, prompts)
    optimizer = build_optimizer(model, config)
    loader = accelerator.prepare(loader)
    scheduler, total_steps = build_scheduler(optimizer, config, len(loader))
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    return dataset, sampler, loader, model, optimizer, scheduler, total_steps
