"""Resumable checkpoints: accelerate's save_state plus the run's config and position, keep-last-K.

A checkpoint directory OUTPUT_DIR/checkpoints/step_<N>/ holds what `accelerator.save_state` writes
(model, optimizer, scheduler, RNG states) and two files of ours:
  run_config.json   the TrainConfig (and process count) of the run that wrote it: a resume compares them
  trainer_state.json  where the run stood: optimizer steps, epoch, batches done in that epoch, history
A checkpoint is written to a temporary name and renamed when complete, so an interrupted save never
looks like the latest checkpoint.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fashion_search.training.config import ConfigError, TrainConfig, check_resume_compatible, save_config

log = logging.getLogger(__name__)

CHECKPOINT_DIRNAME = "checkpoints"
_STEP_DIR = re.compile(r"^step_(\d+)$")
RUN_CONFIG_FILE = "run_config.json"
TRAINER_STATE_FILE = "trainer_state.json"


@dataclass
class TrainerState:
    """Position of the run; `batches_done` counts batches of `epoch` already trained on (0 = at its start)."""

    step: int = 0
    epoch: int = 0
    batches_done: int = 0
    history: list[dict] = field(default_factory=list)  # one row per evaluated epoch (0 = zero-shot)
    skipped_images: int = 0
    # Train loss of the current epoch up to this checkpoint, summed over all processes (read on rank 0).
    epoch_loss_sum: float = 0.0
    epoch_loss_count: int = 0

    @classmethod
    def load(cls, checkpoint: Path) -> "TrainerState":
        return cls(**json.loads((Path(checkpoint) / TRAINER_STATE_FILE).read_text()))


def checkpoint_root(output_dir) -> Path:
    return Path(output_dir) / CHECKPOINT_DIRNAME


def list_checkpoints(output_dir) -> list[Path]:
    """Complete checkpoints under OUTPUT_DIR/checkpoints, oldest first (by step)."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()
             and (p / TRAINER_STATE_FILE).is_file()]
    return [p for _, p in sorted(found)]


def resolve_resume(config: TrainConfig) -> Path | None:
    """The checkpoint to resume from (None for a fresh run); errors that name the fix."""
    existing = list_checkpoints(config.output_dir)
    if config.resume is None:
        if existing:
            raise ConfigError(f"{config.output_dir} already has checkpoints (latest {existing[-1].name}); pass "
                              "--resume latest to continue that run, or choose a new --output-dir")
        return None
    if config.resume == "latest":
        if not existing:
            raise ConfigError(f"--resume latest: no checkpoints in {checkpoint_root(config.output_dir)}; "
                              "drop --resume to start a fresh run")
        return existing[-1]
    path = Path(config.resume)
    if not (path / TRAINER_STATE_FILE).is_file() or not (path / RUN_CONFIG_FILE).is_file():
        raise ConfigError(f"--resume {path} is not a checkpoint written by this trainer (no {TRAINER_STATE_FILE} / "
                          f"{RUN_CONFIG_FILE}); pass OUTPUT_DIR/checkpoints/step_<N> or 'latest'")
    return path


def check_compatible(config: TrainConfig, checkpoint: Path, num_processes: int) -> TrainerState:
    saved = json.loads((checkpoint / RUN_CONFIG_FILE).read_text())
    check_resume_compatible(config, saved, checkpoint, num_processes, saved.get("num_processes"))
    return TrainerState.load(checkpoint)


def save_state_atomically(accelerator, final: Path, write_files, then=None) -> Path:
    """accelerate's save_state into `final`, never half written: every process saves into a partial
    directory beside it; the main process adds its own files (write_files(partial), the one that marks a
    complete checkpoint last), renames it over `final`, then runs `then()` (pruning) before all go on.
    The tagger job (tagging/checkpoint.py) saves the same way."""
    partial = final.parent / f".partial_{final.name}"
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)  # leftover of a save interrupted earlier
        partial.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    if accelerator.is_main_process:
        write_files(partial)
        if final.exists():  # the same checkpoint saved twice (e.g. epoch end == step interval): keep the newer
            shutil.rmtree(final)
        partial.rename(final)
        if then is not None:
            then()
    accelerator.wait_for_everyone()
    return final


def save_checkpoint(accelerator, config: TrainConfig, state: TrainerState) -> Path:
    """save_state into checkpoints/step_<N> (all ranks call this), then prune to the last K (main only)."""
    final = checkpoint_root(config.output_dir) / f"step_{state.step}"

    def write_files(partial: Path) -> None:
        save_config(config, partial / RUN_CONFIG_FILE, num_processes=accelerator.num_processes)
        (partial / TRAINER_STATE_FILE).write_text(json.dumps(asdict(state), indent=2))

    def prune() -> None:
        for old in list_checkpoints(config.output_dir)[: -config.keep_last]:
            shutil.rmtree(old)
            log.info("removed old checkpoint %s (keeping the last %d)", old.name, config.keep_last)
        log.info("saved checkpoint %s", final)

    return save_state_atomically(accelerator, final, write_files, prune)
