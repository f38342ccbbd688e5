"""Training section: samples/s of the real trainer loop vs forward+backward on pre-made tensors.

Both sides run the trainer's own pieces as train/train.py wires them (fashion_search.training:
the decoded-image cache when it fits, PairDataset with caption sampling and augmentation,
PairCollator, EpochShuffleSampler, DualEncoder, AdamW + schedule, train_step with accelerate and
the trainer's default loss options). The loop side pulls batches from the DataLoader as train/train.py does,
one pass = one epoch over the benchmark products; the other side feeds the same number of steps
from a few batches made beforehand, so the ratio is what decoding, augmentation and collation cost
the trainer. Target: >= 0.90. The wait for an epoch's first batch (worker start-up) is timed apart
as epoch_start_s: a real epoch (~1,200 steps on the full catalog) amortises it, a 16-step benchmark
epoch would not.
"""

from __future__ import annotations

import logging
import tempfile
import time

from fashion_search.bench.timing import median, paired_ratio

log = logging.getLogger(__name__)

RATIO_TARGET = 0.90
PREMADE_BATCHES = 4


def _trainer_parts(model_dir: str, catalog_dir: str, batch_size: int, image_cache: str, out_dir: str, steps: int):
    from fashion_search.catalog.products import open_catalog
    from fashion_search.model.clip import load_clip
    from fashion_search.training.config import TrainConfig
    from fashion_search.training.image_cache import ImageCache, use_cache
    from fashion_search.training.setup import build_training_parts, configure_model, make_accelerator

    # The trainer's defaults otherwise (workers, multi-positive loss, ...), as `make train` runs it.
    config = TrainConfig(model=model_dir, catalog=catalog_dir, batch_size=batch_size, image_cache=image_cache,
                         output_dir=out_dir, epochs=1000)
    accelerator = make_accelerator(config)  # the same accelerate setup as train/train.py
    catalog = open_catalog(catalog_dir)
    # An epoch of exactly `steps` full batches (the loop side times whole epochs).
    products = sorted(catalog.products(), key=lambda p: p.id)[: steps * batch_size]
    clip, processor = load_clip(model_dir)
    configure_model(clip, config)
    # Steps 7-8 of train/train.py: decoded-image cache when it fits, else decoding in workers.
    cached, why = use_cache(config.image_cache, len(products), int(clip.config.vision_config.image_size))
    cache = ImageCache(catalog, products, processor.image_processor, config.cache_workers, progress=False) if cached else None
    workers = config.loader_workers(cached)
    dataset, sampler, loader, model, optimizer, scheduler, _ = build_training_parts(
        accelerator, config, catalog, products, clip, processor, cache, workers)
    data = {"image_cache": why, "num_workers": workers}
    return accelerator, model, optimizer, scheduler, loader, sampler, dataset, config, data


def run(model_dir: str, catalog_dir: str, batch_size: int, reps: int, steps: int, image_cache: str = "auto") -> dict:
    from fashion_search.training.loop import train_step

    if steps < 2:
        raise ValueError(f"need at least 2 steps per benchmark epoch, got {steps}")
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        accelerator, model, optimizer, scheduler, loader, sampler, dataset, config, data = _trainer_parts(
            model_dir, catalog_dir, batch_size, image_cache, tmp, steps)

        def step(batch):
            return train_step(accelerator, model, optimizer, scheduler, batch, config.max_grad_norm,
                              multi_positive=config.multi_positive,
                              attribute_loss_weight=config.attribute_loss_weight)

        if len(loader) != steps:
            raise ValueError(f"the benchmark catalog gives {len(loader)} batches of {batch_size}, not {steps}; "
                             "raise --bench-products")
        premade = []
        for batch in loader:  # also warms up the model, the optimizer state and the workers
            premade.append(batch)
            step(batch)
            if len(premade) == PREMADE_BATCHES:
                break
        loop_rates, premade_rates, epoch_starts = [], [], []

        def loop_epoch(epoch: int) -> None:
            sampler.set_epoch(epoch)
            dataset.set_epoch(epoch)
            loader.set_epoch(epoch)
            created = time.perf_counter()
            start, done = None, 0
            for batch in loader:
                if start is None:  # workers are up: from here on the epoch runs as in a long real one
                    start = time.perf_counter()
                    epoch_starts.append(start - created)
                loss, _ = step(batch)
                if loss is None:
                    raise RuntimeError("the trainer skipped a benchmark batch (unreadable images)")
                done += len(batch["index"])
            loop_rates.append(done / (time.perf_counter() - start))

        def premade_steps() -> None:
            start = time.perf_counter()
            for i in range(steps):
                step(premade[i % len(premade)])
            premade_rates.append(steps * batch_size / (time.perf_counter() - start))

        for rep in range(reps):
            for side in (lambda: loop_epoch(rep + 1), premade_steps)[:: 1 if rep % 2 == 0 else -1]:
                side()
        accelerator.end_training()
    loop_ratio = paired_ratio(loop_rates, premade_rates)  # median of per-repetition ratios
    return {
        "products": len(dataset), "batch_size": batch_size, **data, "multi_positive": config.multi_positive,
        "steps_per_pass": steps,
        "reps": reps, "mixed_precision": str(accelerator.mixed_precision), "device": str(accelerator.device),
        "trainer_samples_per_s": median(loop_rates), "forward_backward_samples_per_s": median(premade_rates),
        "epoch_start_s": median(epoch_starts),
        "ratio": loop_ratio, "ratio_target": RATIO_TARGET, "ratio_met": loop_ratio >= RATIO_TARGET,
    }
