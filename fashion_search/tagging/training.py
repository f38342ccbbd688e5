"""The photo tagger's training job: catalog names -> tag labels -> a network that reads them off photos.

    python train/train_tagger.py --catalog ../shared/data/fashion-product-images-small \
        --splits runs/small/splits.json --output-dir runs/tagger          # make tagger

Trains on the splits' `train` ids (give the CLIP run's splits.json, so neither model has seen the
products you evaluate on); after every epoch scores the `val` ids (mean average precision over tags)
and saves the best epoch to `--output-dir` (tagger.json + model.safetensors, what PhotoTagger.load reads)
and `report.json` (per epoch: loss, val mAP, val precision / recall of the stored tags, and the threshold
that would maximise micro F1, for reference). A killed run continues from its last finished epoch with
`--resume latest`, to the same weights an uninterrupted run reaches (tagging/checkpoint.py).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from fashion_search.cli import ConfigError, option, parse_dataclass
from fashion_search.tagging import checkpoint
from fashion_search.tagging.network import DEFAULT_WIDTHS, TagNetwork, as_input, photo_pixels
from fashion_search.tagging.tagger import MIN_PROBABILITY, PhotoTagger
from fashion_search.tagging.vocabulary import tag_targets, tag_vocabulary
from fashion_search.training.data import EpochShuffleSampler
from fashion_search.training.setup import fresh_accelerator

log = logging.getLogger("train_tagger")
THRESHOLDS = np.round(np.arange(0.30, 0.99, 0.01), 2)
MAX_POS_WEIGHT = 50.0     # rare tags' positives count up to 50x: without it the network learns "never"
MIXED_PRECISIONS = ("auto", "no", "bf16")


def native_bf16() -> bool:
    """Whether this machine multiplies in bf16 natively. Where it does not, autocast emulates bf16 and a
    step is slower than in float32, so "auto" keeps float32 there."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")   # torch.cpu's own probes
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def resolved_precision(choice: str) -> str:
    return ("bf16" if native_bf16() else "no") if choice == "auto" else choice


@dataclass
class TaggerTrainConfig:
    catalog: str | None = option(None, "Catalog to learn from: Kaggle dir (styles.csv + images/) or parquet dir/file.")
    output_dir: str = option("runs/tagger", "Where the tagger (tagger.json + model.safetensors) and report.json go.")
    splits: str | None = option(None, "Splits JSON (e.g. the CLIP run's splits.json): train on 'train', pick the epoch "
                                      "on 'val'. Default: drawn like the CLIP trainer's (seed 42).")
    min_probability: float = option(MIN_PROBABILITY, "Tags are stored from this probability up (each weighted by it).")
    epochs: int = option(12, "Passes over the training photos (~21 s each for 37k photos on two CPU cores in "
                                  "bf16, ~35 s in float32).")
    batch_size: int = option(128, "Photos per step.")
    learning_rate: float = option(2e-3, "Peak AdamW learning rate (one-cycle schedule).")
    min_products: int = option(40, "A detail word becomes a tag when at least this many training names hold it.")
    max_tags: int = option(256, "At most this many tags (the most frequent).")
    limit: int | None = option(None, "Only the first N catalog products (smoke runs and tests).")
    seed: int = option(42, "Seed for the default splits, initialisation and shuffling.")
    mixed_precision: str = option("auto", "bf16 | no | auto: bf16 where the machine computes it natively (a CPU "
                                          "with AVX-512 BF16 or AMX, a bf16 GPU), else no.")
    resume: str | None = option(None, "'latest': continue the unfinished run in --output-dir from its last epoch.")
    stop_after_epochs: int | None = option(None, "Stop (checkpoint kept) after this many epochs in all; "
                                                 "--resume latest goes on.")

    def __post_init__(self) -> None:
        if not self.catalog:
            raise ConfigError("--catalog is required: a Kaggle dir (styles.csv + images/) or a parquet dir/file")
        for name in ("epochs", "batch_size", "min_products", "max_tags"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.min_probability < 1:
            raise ConfigError(f"--min-probability must be between 0 and 1, got {self.min_probability}")
        if not self.learning_rate > 0:
            raise ConfigError(f"--learning-rate must be positive, got {self.learning_rate}")
        if self.limit is not None and self.limit < 2:
            raise ConfigError(f"--limit must be at least 2, got {self.limit}")
        if self.resume not in (None, "latest"):
            raise ConfigError(f"--resume takes 'latest' (the job keeps one checkpoint), got {self.resume!r}")
        if self.mixed_precision not in MIXED_PRECISIONS:
            raise ConfigError(f"--mixed-precision must be one of {MIXED_PRECISIONS}, got {self.mixed_precision!r}")
        if self.stop_after_epochs is not None and self.stop_after_epochs < 1:
            raise ConfigError(f"--stop-after-epochs must be at least 1, got {self.stop_after_epochs}")


def parse_config(argv=None) -> TaggerTrainConfig:
    return parse_dataclass(TaggerTrainConfig, argv, description=__doc__.splitlines()[0])


def load_pixels(catalog, products, progress: bool) -> tuple[np.ndarray, list[int]]:
    """(N, 3, 80, 60) uint8 of the readable photos and the indices of those products (bad images skipped)."""
    from fashion_search.catalog.products import ImageError

    pixels, kept = [], []
    for k, product in enumerate(tqdm(products, desc="photos", unit="img", disable=not progress)):
        try:
            pixels.append(photo_pixels(catalog.load_image(product)))
            kept.append(k)
        except (ImageError, OSError, ValueError) as error:
            log.warning("skipped product %s: %s", product.id, error)
    return (np.stack(pixels) if pixels else np.zeros((0, 3, 80, 60), np.uint8)), kept


def average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean over tags with a positive of the average precision of ranking the products by the tag's score."""
    aps = []
    for k in range(targets.shape[1]):
        positives = targets[:, k] > 0
        if positives.any():
            hits = positives[np.argsort(-scores[:, k])]
            precision_at_hit = np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)
            aps.append(precision_at_hit.mean())
    return float(np.mean(aps)) if aps else 0.0


def precision_recall(probabilities: np.ndarray, targets: np.ndarray, threshold: float) -> dict:
    """Micro precision / recall / F1 of the tags at or above `threshold` against the names' tags."""
    predicted = probabilities >= threshold
    true = float((predicted & (targets > 0)).sum())
    precision, recall = true / max(predicted.sum(), 1), true / max(targets.sum(), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return {"precision": round(float(precision), 4), "recall": round(float(recall), 4), "f1": round(float(f1), 4)}


def best_threshold(probabilities: np.ndarray, targets: np.ndarray) -> tuple[float, dict]:
    """The threshold with the best micro F1 on val, and its precision / recall / F1."""
    best = (0.5, {"precision": 0.0, "recall": 0.0, "f1": -1.0})
    for t in THRESHOLDS:
        scores = precision_recall(probabilities, targets, float(t))
        if scores["f1"] > best[1]["f1"]:
            best = (float(t), scores)
    return best


def plot_history(history: list[dict], path: Path) -> None:
    """curves.png: training loss and val mean AP per epoch, where a person looks to judge the epochs."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    figure, (loss, ap) = plt.subplots(1, 2, figsize=(9, 3.2))
    loss.plot(epochs, [r["train_loss"] for r in history], marker="o")
    loss.set(title="training loss (weighted BCE)", xlabel="epoch")
    ap.plot(epochs, [r["val_mAP"] for r in history], marker="o", color="tab:green")
    ap.set(title="val mean average precision over tags", xlabel="epoch")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _split_products(cfg: TaggerTrainConfig, products: list):
    from fashion_search.catalog.splits import load_splits, split_ids

    splits = load_splits(cfg.splits) if cfg.splits else split_ids([p.id for p in products], cfg.seed, 0.05, 0.05)
    train_ids, val_ids = set(splits["train"]), set(splits["val"])
    train = [p for p in products if p.id in train_ids]
    val = [p for p in products if p.id in val_ids]
    if not train or not val:
        raise ConfigError(f"the splits leave {len(train)} training and {len(val)} val products of this catalog; "
                          "give --splits drawn from this catalog (or none)")
    return train, val


def train_tagger(cfg: TaggerTrainConfig) -> dict:
    from accelerate.utils import set_seed

    from fashion_search.catalog.products import open_catalog

    # 1. Accelerator (CPU, one or more GPUs); logging from the main process only. A run to continue is
    #    found and checked before any photo is decoded.
    #    Under bf16 autocast the convolutions run in bf16 (a step 1.6-1.9x faster on an AVX-512
    #    BF16 CPU); the weights, the optimizer and the loss stay in float32. The resolved choice is what a
    #    checkpoint records, so a resume on another machine compares like with like.
    cfg = replace(cfg, mixed_precision=resolved_precision(cfg.mixed_precision))
    accelerator = fresh_accelerator(mixed_precision=cfg.mixed_precision)
    main_process = accelerator.is_main_process
    set_seed(cfg.seed)
    resume_from = checkpoint.resolve(cfg)
    state = checkpoint.load(resume_from, cfg, accelerator.num_processes) if resume_from else checkpoint.TaggerState()

    # 2. Products, splits and the tags the training names hold.
    catalog = open_catalog(cfg.catalog)
    products = list(catalog.products())[:cfg.limit]
    train, val = _split_products(cfg, products)
    vocabulary = tag_vocabulary(train, cfg.min_products, cfg.max_tags)
    if not vocabulary:
        raise ConfigError(f"no detail word is in {cfg.min_products} training names: lower --min-products, or the "
                          "catalog has no names to learn tags from")

    # 3. Photos decoded once into memory at 60x80 (37k photos: 530 MB), labels from the names.
    train_pixels, kept = load_pixels(catalog, train, main_process)
    train_targets = tag_targets([train[k] for k in kept], vocabulary)
    val_pixels, kept = load_pixels(catalog, val, main_process)
    val_targets = tag_targets([val[k] for k in kept], vocabulary)
    log.info("%d tags; %d training photos (%d tag labels), %d val photos; mixed precision: %s", len(vocabulary),
             len(train_pixels), int(train_targets.sum()), len(val_pixels), cfg.mixed_precision)

    # 4. Network, loss weighting for rare tags, AdamW with a one-cycle schedule.
    # Channels-last activations: the CPU convolution kernels prefer them (1.3x a step on two cores).
    network = TagNetwork(len(vocabulary), DEFAULT_WIDTHS).to(memory_format=torch.channels_last)
    share = torch.tensor(train_targets.mean(0)).clamp(min=1e-4)
    pos_weight = ((1 - share) / share).clamp(max=MAX_POS_WEIGHT)
    # The shuffle depends on the seed and the epoch only, so a resumed run sees the order an uninterrupted one does.
    sampler = EpochShuffleSampler(len(train_pixels), cfg.seed)
    loader = DataLoader(TensorDataset(torch.from_numpy(train_pixels), torch.from_numpy(train_targets)),
                        batch_size=cfg.batch_size, sampler=sampler, drop_last=len(train_pixels) > cfg.batch_size)
    optimizer = torch.optim.AdamW(network.parameters(), cfg.learning_rate, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, cfg.learning_rate,
                                                    total_steps=cfg.epochs * max(len(loader), 1))
    network, optimizer, loader, scheduler = accelerator.prepare(network, optimizer, loader, scheduler)
    pos_weight = pos_weight.to(accelerator.device)
    if resume_from:
        try:
            accelerator.load_state(str(resume_from))
        except Exception as error:  # noqa: BLE001 - whatever a damaged save raises, the fix is the same
            raise checkpoint.damaged(resume_from, error) from None
        log.info("resumed from %s: %d of %d epochs done", resume_from, state.epoch, cfg.epochs)

    # 5. Epochs: a mirrored photo every other step (a left-right flip keeps every detail word true);
    #    val mean AP after each, the best epoch saved, then a checkpoint.
    output = Path(cfg.output_dir)
    last = min(cfg.epochs, cfg.stop_after_epochs or cfg.epochs)
    for epoch in range(state.epoch + 1, last + 1):
        started, network = time.time(), network.train()
        sampler.set_epoch(epoch)
        loader.set_epoch(epoch)   # accelerate's loader keeps its own epoch count, which it hands the sampler
        losses = []
        for step, (pixels, targets) in enumerate(tqdm(loader, desc=f"epoch {epoch}", disable=not main_process)):
            x = as_input(pixels).contiguous(memory_format=torch.channels_last)            # (B, 3, 80, 60)
            if step % 2:
                x = x.flip(3)
            loss = nn.functional.binary_cross_entropy_with_logits(network(x), targets, pos_weight=pos_weight)
            optimizer.zero_grad()
            accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
        tagger = PhotoTagger(accelerator.unwrap_model(network), vocabulary, cfg.min_probability)
        probabilities = tagger.probabilities(val_pixels)
        mean_ap = average_precision(probabilities, val_targets)
        best_f1_threshold, at_best = best_threshold(probabilities, val_targets)
        stored = precision_recall(probabilities, val_targets, cfg.min_probability)
        record = {"epoch": epoch, "train_loss": round(float(np.mean(losses)), 4), "val_mAP": round(mean_ap, 4),
                  **{f"val_{k}": v for k, v in stored.items()},
                  "best_f1_threshold": best_f1_threshold, "best_f1": at_best["f1"],
                  "seconds": round(time.time() - started, 1)}
        state.history.append(record)
        log.info("%s", record)
        if mean_ap > state.best_ap:
            state.best_ap = mean_ap
            if main_process:
                tagger.save(output)
        state.epoch = epoch
        checkpoint.save(accelerator, cfg, state)
    report = {"config": asdict(cfg), "tags": vocabulary, "history": state.history,
              "best": max(state.history, key=lambda r: r["val_mAP"]) if state.history else None,
              "output_dir": str(output), "finished": state.epoch >= cfg.epochs}
    if main_process:
        (output / "report.json").write_text(json.dumps(report, indent=1))
        if state.history:
            plot_history(state.history, output / "curves.png")
        if report["finished"]:
            checkpoint.remove(output)
    accelerator.end_training()
    return report
