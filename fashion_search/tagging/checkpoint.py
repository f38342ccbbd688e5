"""The tagger job's resumable state: a kill loses at most the epoch under way.

After every epoch the job writes OUTPUT_DIR/checkpoint_epoch_<N>/: what `accelerator.save_state` writes
(network, optimizer, schedule, random states) and two files of ours, `run_config.json` (the run's
TaggerTrainConfig and process count: a resume compares them) and `tagger_state.json` (the epochs done,
their history, the best val mAP so far), written last, so a directory without it is a save that was
interrupted and is ignored. Only the newest is kept, and a finished run removes it: a checkpoint on disk
means a run that did not finish, and a new run there refuses to start over it unless told to resume.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fashion_search.cli import ConfigError
from fashion_search.training.checkpoints import save_state_atomically

_EPOCH_DIR = re.compile(r"^checkpoint_epoch_(\d+)$")
STATE_FILE = "tagger_state.json"
RUN_CONFIG_FILE = "run_config.json"
# Fields that do not change what the run computes: a resume may differ in them.
FREE_TO_CHANGE = ("output_dir", "resume", "stop_after_epochs")
# What a checkpoint written before a field existed was computed with.
BEFORE_RECORDED = {"mixed_precision": "no"}


@dataclass
class TaggerState:
    epoch: int = 0                                       # epochs finished
    best_ap: float = -1.0                                # val mAP of the tagger saved in OUTPUT_DIR
    history: list[dict] = field(default_factory=list)   # one record per finished epoch


def checkpoints(output_dir) -> list[Path]:
    """Complete checkpoints in OUTPUT_DIR, oldest first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if (m := _EPOCH_DIR.match(p.name)) and (p / STATE_FILE).is_file()]
    return [p for _, p in sorted(found)]


def resolve(cfg) -> Path | None:
    """The checkpoint a run continues from (None: a fresh run), or a ConfigError that names the fix."""
    existing = checkpoints(cfg.output_dir)
    if cfg.resume is None:
        if existing:
            raise ConfigError(f"{cfg.output_dir} holds an unfinished tagger run ({existing[-1].name}); pass "
                              "--resume latest to continue it, or choose a new --output-dir")
        return None
    if not existing:
        raise ConfigError(f"--resume latest: no tagger checkpoint in {cfg.output_dir} (a finished run removes "
                          "its own); drop --resume to start a fresh run")
    return existing[-1]


def load(checkpoint: Path, cfg, num_processes: int) -> TaggerState:
    """The saved position, after checking the checkpoint's run computes what this one would."""
    try:
        saved = json.loads((checkpoint / RUN_CONFIG_FILE).read_text())
        state = TaggerState(**json.loads((checkpoint / STATE_FILE).read_text()))
    except (OSError, ValueError, TypeError) as error:
        raise damaged(checkpoint, error) from None
    saved = {**BEFORE_RECORDED, **saved}
    current = {**_computing_fields(cfg), "num_processes": num_processes}
    diffs = [f"{name}: checkpoint {saved.get(name)!r} vs now {value!r}" for name, value in current.items()
             if saved.get(name) != value]
    if diffs:
        raise ConfigError(f"cannot resume from {checkpoint}: it comes from another run ({'; '.join(diffs)}). "
                          "Use that run's flags, or a new --output-dir without --resume.")
    return state


def damaged(checkpoint: Path, error: Exception) -> ConfigError:
    return ConfigError(f"the tagger checkpoint {checkpoint} is damaged ({error}); delete it to start the run "
                       "over, or train into a new --output-dir")


def save(accelerator, cfg, state: TaggerState) -> Path:
    """Every process calls this; the newest checkpoint replaces the older one."""
    final = Path(cfg.output_dir) / f"checkpoint_epoch_{state.epoch}"

    def write_files(partial: Path) -> None:
        config = {**_computing_fields(cfg), "num_processes": accelerator.num_processes}
        (partial / RUN_CONFIG_FILE).write_text(json.dumps(config, indent=1, sort_keys=True))
        (partial / STATE_FILE).write_text(json.dumps(asdict(state), indent=1))

    def prune() -> None:
        for old in checkpoints(cfg.output_dir)[:-1]:
            shutil.rmtree(old)

    return save_state_atomically(accelerator, final, write_files, prune)


def remove(output_dir) -> None:
    """After a finished run: its tagger and report are the results, the checkpoint only a way there."""
    for path in Path(output_dir).glob("*checkpoint_epoch_*"):
        shutil.rmtree(path, ignore_errors=True)


def _computing_fields(cfg) -> dict:
    return {k: v for k, v in asdict(cfg).items() if k not in FREE_TO_CHANGE}
