"""Fine-tune CLIP on a fashion catalog: bidirectional InfoNCE over the global batch, with accelerate.

By default the loss is multi-positive (--multi-positive): a category caption ("navy blue tshirts")
counts every matching image in the global batch as a positive; the val loss stays one-hot InfoNCE.

    accelerate launch train/train.py --catalog ../shared/data/fashion-product-images-small \
        --model small --output-dir runs/small        # any `accelerate config` works: CPU, 1 or N GPUs
    python train/train.py --help                     # every flag, with its default

The run directory ends up with checkpoints/step_<N>/ (resume with --resume latest), best/ and
final/ (save_pretrained exports that model.clip.load_clip reads), splits.json, and report.{json,csv,md}
+ curves.png: per-epoch train/val loss and val retrieval, epoch 0 being the zero-shot baseline.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from accelerate.utils import set_seed

from fashion_search.catalog.products import CatalogError
from fashion_search.catalog.splits import SplitsError
from fashion_search.model.clip import ModelLoadError
from fashion_search.training.checkpoints import TrainerState, check_compatible, resolve_resume
from fashion_search.training.config import ConfigError, parse_config
from fashion_search.training.evaluation import Evaluator
from fashion_search.training.image_cache import ImageCache, use_cache
from fashion_search.training.loop import BEST_DIRNAME, FINAL_DIRNAME, evaluate_into_history, export_model, fit
from fashion_search.training.report import markdown_table, write_report
from fashion_search.training.setup import (
    build_small_model,
    build_training_parts,
    configure_model,
    load_pretrained,
    load_run_data,
    make_accelerator,
)

log = logging.getLogger("train")


def main(argv=None) -> dict:
    # 1. Parse and validate the configuration: bad flags fail here, before any work.
    config = parse_config(argv)

    # 2. Accelerator (processes, device, mixed precision); logging from the main process only.
    accelerator = make_accelerator(config)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=logging.INFO if accelerator.is_main_process else logging.WARNING)
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # one line per checkpoint is ours
    set_seed(config.seed)

    # 3. Fresh run or resume: a checkpoint from an incompatible run is refused here.
    checkpoint = resolve_resume(config)
    state = check_compatible(config, checkpoint, accelerator.num_processes) if checkpoint else TrainerState()

    # 4. A pretrained model loads first, so a missing or offline one fails before any data work.
    pretrained = load_pretrained(config, accelerator)

    # 5. Products: catalog -> splits (written once, by the main process) -> train / val.
    data = load_run_data(config, accelerator)

    # 6. Model, tokenizer and processor: the pretrained one, or the `small` preset built from the
    #    train captions.
    if pretrained is not None:
        (clip, processor), source = pretrained, config.model
    else:
        clip, processor, source = build_small_model(config, data.train, accelerator, resuming=checkpoint is not None)
    configure_model(clip, config)
    log.info("%s", config.recipe_summary())

    # 7. Images: decoded once into an in-memory uint8 cache (small images), or per sample in workers.
    #    Every process caches all of train + val: each rank's batches are drawn from the whole set.
    image_size = int(clip.config.vision_config.image_size)
    cached, why = use_cache(config.image_cache, len(data.train) + len(data.val), image_size)
    log.info("image cache %s: %s", "on" if cached else "off", why)
    cache = (ImageCache(data.catalog, data.train + data.val, processor.image_processor, config.cache_workers,
                        progress=accelerator.is_local_main_process) if cached else None)
    workers = config.loader_workers(cached)

    # 8. Training pairs: a random caption template and a light augmentation per product and epoch,
    #    from the cache or decoded in DataLoader workers; drop_last keeps every step's batch full.
    #    Then the optimizer and warmup + cosine schedule, sized on this process's share of the batches.
    dataset, sampler, loader, model, optimizer, scheduler, total_steps = build_training_parts(
        accelerator, config, data.catalog, data.train, clip, processor, cache, workers)

    # 9. Resume: weights, optimizer, scheduler and RNG; the position in the epoch is in `state`.
    if checkpoint:
        accelerator.load_state(str(checkpoint))
        log.info("resumed from %s at step %d (epoch %d, batch %d)", checkpoint, state.step, state.epoch,
                 state.batches_done)

    # 10. Zero-shot baseline on the val split (epoch 0), once per run.
    # Val loss chunks have the global batch size: as many negatives as a training step sees.
    evaluator = Evaluator(data.catalog, data.val, processor, config.batch_size * accelerator.num_processes,
                          config.eval_batch_size, workers, accelerator.device, cache=cache)
    if config.eval_before_training and state.step == 0 and not state.history:
        evaluate_into_history(accelerator, evaluator, model, state, epoch=0, train_loss=None)

    # 11. Train: epochs of accumulate/backward/clip/step, checkpoints every N steps and per epoch,
    #     the `best` export whenever an epoch beats every earlier one on val.
    def export_best():
        export_model(accelerator.unwrap_model(model).clip, processor, output_path(config, BEST_DIRNAME),
                     data.splits_path, {"source": source, "epoch": state.epoch, "step": state.step,
                                        "metrics": state.history[-1]})

    stopped = fit(accelerator, config, state, model=model, optimizer=optimizer, scheduler=scheduler,
                  dataset=dataset, sampler=sampler, loader=loader, total_steps=total_steps, evaluator=evaluator,
                  export_best=export_best)

    # 12. Export the final model and write the per-epoch table and curves.
    result = {"step": state.step, "epoch": state.epoch, "stopped": stopped, "history": state.history,
              "skipped_images": state.skipped_images, "output_dir": config.output_dir}
    if accelerator.is_main_process and not stopped:
        result["final_dir"] = export_model(accelerator.unwrap_model(model).clip, processor,
                                           output_path(config, FINAL_DIRNAME), data.splits_path,
                                           {"source": source, "epoch": state.epoch, "step": state.step,
                                            "history": state.history})
        if state.history:
            result["report"] = write_report(state.history, config.output_dir)
            log.info("per-epoch results:\n%s", markdown_table(state.history))
        if state.skipped_images:
            log.warning("%d training images could not be read and were skipped", state.skipped_images)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return result


def output_path(config, name: str) -> Path:
    return Path(config.output_dir) / name


if __name__ == "__main__":
    try:
        main()
    except (ConfigError, ModelLoadError, CatalogError, SplitsError) as exc:
        # Configuration and input problems: the message names the fix; a traceback would bury it.
        sys.exit(f"error: {exc}")
