"""The training loop: fit (epochs) -> train_one_epoch (steps) -> train_step, plus eval bookkeeping and export."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch
from tqdm.auto import tqdm

from fashion_search.model.loss import clamp_logit_scale_, clip_loss
from fashion_search.training.attributes import NAME_WORD_SLOTS
from fashion_search.training.checkpoints import TrainerState, save_checkpoint
from fashion_search.training.prompts import attribute_prompt_loss

log = logging.getLogger(__name__)

BEST_DIRNAME, FINAL_DIRNAME = "best", "final"
# Text -> image MRR picks the `best` export: text queries against product photos are what the
# search page serves, and MRR rewards every rank improvement, not only those crossing k.
BEST_METRIC = "t2i/MRR"


def common_batch_size(accelerator, size: int) -> int:
    """Smallest batch among processes: all_gather needs equal sizes, and a failed image shrinks one rank's batch."""
    if accelerator.num_processes == 1:
        return size
    sizes = accelerator.gather(torch.tensor([size], device=accelerator.device))
    return int(sizes.min().item())


def train_step(accelerator, model, optimizer, scheduler, batch: dict, max_grad_norm: float, *,
               multi_positive: bool, attribute_loss_weight: float = 0.0) -> tuple[torch.Tensor | None, bool]:
    """Forward + backward one micro-batch inside `accumulate`; (local loss or None if skipped, optimizer stepped).

    multi_positive: soft targets from the batch's `image_attrs` / `caption_constraints` (loss.clip_loss).
    attribute_loss_weight: weight of the attribute-prompt loss (training/prompts.py) when the model has prompts.
    """
    size = common_batch_size(accelerator, len(batch["index"]))
    if size < 2:  # no negatives to contrast: every rank skips this batch together
        log.warning("skipping a batch with %d readable images", size)
        return None, False
    inputs = {key: batch[key][:size] for key in ("pixel_values", "input_ids", "attention_mask")}
    codes = ({key: batch[key][:size] for key in ("image_attrs", "caption_constraints")}  # (B, F) each
             if multi_positive else {})
    with accelerator.accumulate(model):
        image, text, logit_scale, prompt_features = model(**inputs)  # (B, D), (B, D), scalar, [(V, D)]
        loss = clip_loss(image, text, logit_scale, rank=accelerator.process_index,
                         world_size=accelerator.num_processes, **codes,
                         set_columns=NAME_WORD_SLOTS if multi_positive else 0)
        if prompt_features:
            prompts = accelerator.unwrap_model(model).prompts
            labels = prompts.labels(batch["image_attrs"][:size])
            loss = loss + attribute_loss_weight * attribute_prompt_loss(image, prompt_features, labels, logit_scale,
                                                                        world_size=accelerator.num_processes,
                                                                        field_weights=prompts.weights,
                                                                        class_weights=prompts.class_weights())
        accelerator.backward(loss)
        if accelerator.sync_gradients and max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()  # a no-op until the accumulation window closes
        optimizer.zero_grad(set_to_none=True)
    stepped = accelerator.sync_gradients
    if stepped:
        # Stepped here, once per optimizer step (Accelerator(step_scheduler_with_optimizer=False)),
        # so the schedule length does not depend on the number of processes.
        scheduler.step()
        clamp_logit_scale_(accelerator.unwrap_model(model).clip.logit_scale)
    return loss.detach(), stepped


class RunningTotals:
    """This process's train loss and failed-image counts since the last fold into TrainerState."""

    def __init__(self):
        self.loss_sum, self.loss_count, self.failed_images = 0.0, 0, 0

    def add(self, loss: torch.Tensor | None, failed_images: int) -> None:
        self.failed_images += failed_images
        if loss is not None:
            self.loss_sum += loss.item()
            self.loss_count += 1

    def fold_into(self, accelerator, state: TrainerState) -> None:
        """Sum over processes (a collective: every rank calls it) into state on rank 0, then reset.

        Checkpoints then carry the epoch's loss so far, and a resumed epoch reports the same average.
        """
        totals = torch.tensor([self.loss_sum, self.loss_count, self.failed_images], dtype=torch.float64,
                              device=accelerator.device)
        totals = accelerator.reduce(totals, reduction="sum")
        if accelerator.is_main_process:
            state.epoch_loss_sum += totals[0].item()
            state.epoch_loss_count += int(totals[1].item())
            state.skipped_images += int(totals[2].item())
        self.__init__()


def evaluate_into_history(accelerator, evaluator, model, state: TrainerState, epoch: int,
                          train_loss: float | None) -> dict | None:
    """Main process: eval, append a history row, log it. Other processes wait. Returns the row (main) or None."""
    row = None
    if accelerator.is_main_process:
        metrics = evaluator(accelerator.unwrap_model(model).clip)
        row = {"epoch": epoch, "step": state.step, "train_loss": train_loss, **metrics}
        state.history.append(row)
        log.info("epoch %d: train loss %s, val loss %.4f, t2i R@1 %.3f R@10 %.3f MRR %.3f, i2t R@10 %.3f, "
                 "P@10 articleType %.3f baseColour %.3f", epoch,
                 "-" if train_loss is None else f"{train_loss:.4f}", row["val_loss"], row["t2i/R@1"],
                 row["t2i/R@10"], row["t2i/MRR"], row["i2t/R@10"], row["P@10/articleType"], row["P@10/baseColour"])
    accelerator.wait_for_everyone()
    return row


def is_new_best(history: list[dict]) -> bool:
    """True when the last trained epoch beats every earlier trained epoch on BEST_METRIC (epoch 0 excluded)."""
    trained = [row for row in history if row["epoch"] > 0]
    if not trained:
        return False
    return trained[-1][BEST_METRIC] >= max(row[BEST_METRIC] for row in trained)


def export_model(clip, processor, out_dir: Path, splits_file: Path, info: dict) -> Path:
    """save_pretrained model + tokenizer + processor (what load_clip reads) plus the splits used."""
    partial = out_dir.with_name(f".partial_{out_dir.name}")
    shutil.rmtree(partial, ignore_errors=True)
    clip.save_pretrained(partial)
    processor.save_pretrained(partial)
    shutil.copyfile(splits_file, partial / splits_file.name)
    (partial / "training_info.json").write_text(json.dumps(info, indent=2))
    shutil.rmtree(out_dir, ignore_errors=True)
    partial.rename(out_dir)  # readers (ingest, eval) never see a half-written export
    log.info("exported model to %s", out_dir)
    return out_dir


def train_one_epoch(accelerator, config, state: TrainerState, model, optimizer, scheduler, batches,
                    running: RunningTotals, progress, total_steps: int) -> bool:
    """One pass over `batches` (the rest of a resumed epoch): steps, logging, checkpoints every N steps.

    Returns True when --stop-after-steps was reached (a checkpoint has been written).
    """
    for batch in batches:
        loss, stepped = train_step(accelerator, model, optimizer, scheduler, batch, config.max_grad_norm,
                                   multi_positive=config.multi_positive,
                                   attribute_loss_weight=config.attribute_loss_weight)
        running.add(loss, int(batch["n_failed"]))
        state.batches_done += 1
        if not stepped:
            continue
        state.step += 1
        progress.update(1)
        if loss is not None:
            progress.set_postfix(loss=f"{loss.item():.4f}")
        if state.step % config.log_every == 0:
            log.info("step %d/%d epoch %d loss %s lr %.3g", state.step, total_steps, state.epoch,
                     "-" if loss is None else f"{loss.item():.4f}", scheduler.get_last_lr()[0])
        stopped = bool(config.stop_after_steps) and state.step >= config.stop_after_steps
        if stopped or state.step % config.checkpoint_every == 0:
            running.fold_into(accelerator, state)
            save_checkpoint(accelerator, config, state)
        if stopped:
            log.info("stopped after %d steps as asked (--stop-after-steps); continue with --resume latest",
                     state.step)
            return True
    return False


def fit(accelerator, config, state: TrainerState, *, model, optimizer, scheduler, dataset, sampler, loader,
        total_steps: int, evaluator, export_best) -> bool:
    """Epochs until config.epochs (or --stop-after-steps): train, fold the loss, val eval, `best`, checkpoint.

    export_best() is called on the main process when an epoch beats every earlier one. Returns `stopped`.
    """
    running = RunningTotals()
    progress = tqdm(total=total_steps, initial=state.step, desc="train", unit="step",
                    disable=not accelerator.is_local_main_process)
    stopped = False
    while state.epoch < config.epochs and not stopped:
        # Shuffle order, captions and crops depend on the epoch only; skip what a resumed epoch has done.
        sampler.set_epoch(state.epoch)
        dataset.set_epoch(state.epoch)
        loader.set_epoch(state.epoch)
        batches = accelerator.skip_first_batches(loader, state.batches_done) if state.batches_done else loader
        stopped = train_one_epoch(accelerator, config, state, model, optimizer, scheduler, batches, running,
                                  progress, total_steps)
        if stopped:
            break
        # End of epoch: its average loss, val eval, the `best` export, a checkpoint at the boundary.
        running.fold_into(accelerator, state)
        train_loss = state.epoch_loss_sum / state.epoch_loss_count if state.epoch_loss_count else None
        state.epoch, state.batches_done, state.epoch_loss_sum, state.epoch_loss_count = state.epoch + 1, 0, 0.0, 0
        evaluate_into_history(accelerator, evaluator, model, state, epoch=state.epoch, train_loss=train_loss)
        if accelerator.is_main_process and is_new_best(state.history):
            export_best()
        save_checkpoint(accelerator, config, state)
    progress.close()
    return stopped
