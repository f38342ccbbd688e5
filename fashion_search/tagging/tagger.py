"""PhotoTagger: the trained tag network and its vocabulary, saved to and loaded from a directory.

    tagger = PhotoTagger.load("runs/tagger")
    tagger.tags([image])         # [{"striped": 0.97, "polo": 0.61}]: the words the photo shows, surest first

A directory holds `tagger.json` (vocabulary, min_probability, network widths, pooling and block order, format) and
`model.safetensors`.
Loading checks both and names what is wrong, so ingest fails before it touches a store.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from fashion_search.store.lexical import PHOTO_TAGS_KEY
from fashion_search.tagging.network import TagNetwork, as_input, for_inference, photo_pixels

CONFIG_FILE, WEIGHTS_FILE = "tagger.json", "model.safetensors"
FORMAT = 3                      # 3 added the block order, 2 the pooling (format 1: the average alone)
MAX_TAGS = 6                    # a photo rarely shows more distinct details; more would be noise in the words
# Tags stored from this probability up, each weighted by its probability (store/lexical.py). The network is
# trained with rare tags' positives up-weighted, so 0.5 is "likelier than the weighting's prior", not a
# calibrated 50%: low enough to keep the unsure tags that still rank a striped shirt above a plain one.
MIN_PROBABILITY = 0.5
BATCH = 256


class TaggerLoadError(ValueError):
    """A tagger directory that cannot be used; the message says what is missing and how to make one."""


class PhotoTagger:
    def __init__(self, network: TagNetwork, vocabulary: Sequence[str], min_probability: float = MIN_PROBABILITY,
                 source: str | None = None):
        if len(vocabulary) == 0:
            raise ValueError("a tagger needs at least one tag")
        if not 0.0 < min_probability < 1.0:
            raise ValueError(f"min_probability must be in (0, 1), got {min_probability}")
        self.network = network.eval()
        self._inference = None      # built on first use: the training job keeps training `network`
        self.vocabulary = list(vocabulary)
        self.min_probability = float(min_probability)
        self.source = source

    # --- persistence -------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}
        config = {"format": FORMAT, "vocabulary": self.vocabulary, "min_probability": self.min_probability,
                  "widths": list(self.network.widths), "pooling": self.network.pooling, "block": self.network.block}
        # Each file written beside and renamed over the old one: a kill mid-save (the training job saves
        # every better epoch) leaves the previous tagger whole, never half a weights file.
        save_file(state, str(directory / f"{WEIGHTS_FILE}.tmp"))
        (directory / f"{CONFIG_FILE}.tmp").write_text(json.dumps(config, indent=1))
        os.replace(directory / f"{WEIGHTS_FILE}.tmp", directory / WEIGHTS_FILE)
        os.replace(directory / f"{CONFIG_FILE}.tmp", directory / CONFIG_FILE)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> PhotoTagger:
        directory = Path(directory).expanduser()
        config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
        hint = "train one with `make tagger` (train/train_tagger.py)"
        if not config_path.is_file() or not weights_path.is_file():
            raise TaggerLoadError(f"{directory} is not a photo tagger (needs {CONFIG_FILE} and {WEIGHTS_FILE}); {hint}")
        try:
            config = json.loads(config_path.read_text())
            vocabulary, floor, widths = config["vocabulary"], float(config["min_probability"]), config["widths"]
            if config.get("format") not in range(1, FORMAT + 1):
                raise TaggerLoadError(f"{config_path} has format {config.get('format')!r}, this code reads 1 to "
                                      f"{FORMAT}; {hint}")
            # What an older format did not record is what it was built with: the average (1), conv-bn-relu-pool (1, 2).
            network = TagNetwork(len(vocabulary), widths, config.get("pooling", "avg"),
                                 config.get("block", "conv-bn-relu-pool"))
            network.load_state_dict(load_file(str(weights_path)))
            return cls(network, vocabulary, floor, source=str(directory.resolve()))
        except TaggerLoadError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as error:
            raise TaggerLoadError(f"cannot load the photo tagger in {directory}: {type(error).__name__}: {error}; "
                                  f"{hint}") from None

    def identity(self) -> dict:
        """What ingest records and compares: a store tagged by other weights is re-tagged (new version)."""
        digest = hashlib.sha256()
        for key, value in sorted(self.network.state_dict().items()):
            digest.update(key.encode())
            digest.update(value.detach().cpu().numpy().tobytes())
        digest.update(json.dumps([self.vocabulary, self.min_probability]).encode())
        return {"name": self.source, "sha256": digest.hexdigest()[:16], "tags": len(self.vocabulary)}

    # --- prediction --------------------------------------------------------------------------------
    @torch.inference_mode()
    def probabilities(self, pixels: np.ndarray | torch.Tensor) -> np.ndarray:
        """uint8 (N, 3, 80, 60) -> (N, T) float32 tag probabilities."""
        if self._inference is None:
            self._inference = for_inference(self.network)
        pixels = torch.as_tensor(pixels)
        out = [torch.sigmoid(self._inference(as_input(pixels[i:i + BATCH]).contiguous(memory_format=torch.channels_last)))
               for i in range(0, len(pixels), BATCH)]
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.vocabulary)), np.float32)

    def tags_of(self, probabilities: np.ndarray) -> list[dict[str, float]]:
        """Per row, {tag: probability} from min_probability up, surest first, at most MAX_TAGS."""
        out = []
        for row in probabilities:
            order = np.argsort(-row, kind="stable")[:MAX_TAGS]
            out.append({self.vocabulary[k]: round(float(row[k]), 3) for k in order if row[k] >= self.min_probability})
        return out

    def payload_fields(self, pixels: np.ndarray | torch.Tensor) -> list[dict]:
        """Per photo, what ingest adds to its payload: {PHOTO_TAGS_KEY: {tag: probability}}, or {} when
        it shows no tag the tagger is sure enough of."""
        return [{PHOTO_TAGS_KEY: tags} if tags else {} for tags in self.tags_of(self.probabilities(pixels))]

    def tags(self, images: Sequence[Image.Image]) -> list[dict[str, float]]:
        pixels = np.stack([photo_pixels(image) for image in images]) if images else np.zeros((0, 3, 80, 60), np.uint8)
        return self.tags_of(self.probabilities(pixels))
