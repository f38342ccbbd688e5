"""Load a CLIP checkpoint (hub id or local directory) or build the from-scratch `small` preset.

Every model this project uses ends up as a directory that `load_clip` reads the same way:
`CLIPModel` weights + config, a fast tokenizer and a CLIP image processor, all via save_pretrained.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlparse

import torch
from huggingface_hub import try_to_load_from_cache
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from transformers import CLIPConfig, CLIPModel, CLIPProcessor, PreTrainedTokenizerFast
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

log = logging.getLogger(__name__)

DEFAULT_MODEL = "openai/clip-vit-base-patch32"
SMALL_NAME = "small"

# Special tokens, in id order. eos must not be id 2: CLIPTextTransformer falls back to pooling at
# argmax(input_ids) when eos_token_id == 2 (the legacy OpenAI convention), which would pool at the
# highest word id instead of the end token. With eos = 3 it pools at the first eos, and pad is a
# separate token so padding can never be mistaken for the end of the caption.
PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN = "<|pad|>", "<|unk|>", "<|startoftext|>", "<|endoftext|>"
SPECIAL_TOKENS = [PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN]
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(len(SPECIAL_TOKENS))

# The `small` preset: sized so a 2-core CPU trains it on ~41k 60x80 product photos in minutes.
# 48 px images in 12 px patches (16 tokens): on one core fwd+bwd+AdamW runs ~420 samples/s vs ~180
# for 64/8, and after one full-data epoch it scores like 32/8 and 64/8 (experiments/tune_small_results.md).
# The vision tower dominates; hidden 192 was ~35-40% slower.
# Keys: "vocab_size" (tokenizer), "image_size", "patch_size", "vision_hidden", "vision_layers",
# "text_hidden", "text_layers", "heads", "mlp_ratio", "projection_dim", "max_position_embeddings".
SMALL_PRESET: dict = {
    "vocab_size": 3000, "image_size": 48, "patch_size": 12, "heads": 4, "mlp_ratio": 4,
    "vision_hidden": 128, "vision_layers": 4, "text_hidden": 128, "text_layers": 4,
    "projection_dim": 128, "max_position_embeddings": 32,
}


class ModelLoadError(Exception):
    """A model could not be loaded or built; the message says how to fix it."""


def _offline_fix_hint(name: str) -> str:
    return (
        f"To use '{name}' without internet, download it on a machine that has internet with "
        f"`huggingface-cli download {name} --local-dir /path/to/clip`, copy that folder here and pass "
        f"`--model /path/to/clip` (MODEL=/path/to/clip for make). Or build and train the from-scratch "
        f"model with `make train MODEL=small` and pass its output directory."
    )


def _looks_like_local_path(name_or_path: str) -> bool:
    # Hub ids are "name" or "org/name"; anything with more slashes, a leading ./ ../ / ~ or a
    # Windows drive is meant as a directory on disk.
    return (
        name_or_path.startswith((".", "/", "~", "\\"))
        or name_or_path.count("/") > 1
        or (len(name_or_path) > 1 and name_or_path[1] == ":")
    )


def load_clip(name_or_path: str) -> tuple[CLIPModel, CLIPProcessor]:
    """Load a CLIP model and its processor from a hub id or a local save_pretrained directory.

    Returns the model in eval mode on CPU. Raises ModelLoadError (never a raw OSError/HTTP error)
    with a message that names the fix.
    """
    name = str(name_or_path).strip()
    if not name:
        raise ModelLoadError(f"empty model name; pass --model {DEFAULT_MODEL} or a local CLIP directory")
    if name == SMALL_NAME:
        raise ModelLoadError(
            "'small' is a from-scratch preset, not a checkpoint: build and train it first "
            "(`make train MODEL=small`, which calls fashion_search.model.clip.build_small) and pass the "
            "model directory the training run saved under runs/ as `--model PATH`."
        )
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{path} is not a CLIP checkpoint directory (no config.json). Point --model at a folder "
                f"written by save_pretrained (e.g. from `huggingface-cli download {DEFAULT_MODEL} "
                f"--local-dir /path/to/clip` or from training)."
            )
        return _from_pretrained(str(path), hint=f"Re-save or re-download the checkpoint at {path}.")
    if _looks_like_local_path(name):
        raise ModelLoadError(
            f"model directory {path} does not exist. Check the path, or pass a hub id like "
            f"{DEFAULT_MODEL}. " + _offline_fix_hint(DEFAULT_MODEL)
        )
    offline = _env_flag("HF_HUB_OFFLINE") or _env_flag("TRANSFORMERS_OFFLINE")
    # "org/name" could also be a relative directory someone mistyped; say so next to the hub advice.
    hint = f"(There is no local directory '{name}' either.) " + _offline_fix_hint(name)
    if offline or _in_hub_cache(name):
        # Offline: read only the local HF cache so a missing model fails at once instead of retrying.
        return _from_pretrained(name, hint=hint, local_files_only=True)
    if not _hub_reachable():
        # Without this check huggingface_hub retries for ~30 s before giving up on a dead network.
        raise ModelLoadError(f"cannot reach the Hugging Face hub ({_hub_endpoint()}) to download '{name}'. {hint}")
    return _from_pretrained(name, hint=hint)


def _hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _in_hub_cache(repo_id: str) -> bool:
    try:
        # A path (str) when cached; None or a "known missing" sentinel otherwise.
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repo id; from_pretrained reports that with the fix attached
        return False


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    if any(os.environ.get(var) for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # a direct socket says nothing about a proxy; let the download try
    parsed = urlparse(_hub_endpoint())
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _env_flag(var: str) -> bool:
    return os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}


def _from_pretrained(source: str, hint: str, **kwargs) -> tuple[CLIPModel, CLIPProcessor]:
    try:
        model = CLIPModel.from_pretrained(source, **kwargs)
        processor = CLIPProcessor.from_pretrained(source, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        # OSError covers missing files, offline cache misses (LocalEntryNotFoundError) and HTTP
        # errors (HfHubHTTPError); ValueError covers malformed ids (HFValidationError) and configs.
        offline = " (HF_HUB_OFFLINE is set)" if kwargs.get("local_files_only") else ""
        raise ModelLoadError(f"could not load CLIP model '{source}'{offline}: {exc}\n{hint}") from exc
    model.eval()
    log.info("loaded %s: %.1fM parameters", source, count_parameters(model) / 1e6)
    return model, processor


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train_caption_tokenizer(captions: Iterable[str], vocab_size: int, max_length: int) -> PreTrainedTokenizerFast:
    """Lowercase WordPiece tokenizer fitted to the captions; encodes as <bos> pieces... <eos>.

    The vocabulary is built here rather than with tokenizers' WordPieceTrainer because that trainer
    breaks ties in Rust hash-map order, so two builds from the same captions give different ids.
    Ours: special tokens, every character seen (as a word start and as a "##" continuation, so any
    word is encodable), then whole words by (frequency desc, word asc). On the real catalog the top
    3000 words cover ~98.5% of word occurrences; rarer words (mostly brand names) fall back to pieces.
    """
    tokenizer = Tokenizer(WordPiece(vocab={t: i for i, t in enumerate(SPECIAL_TOKENS)}, unk_token=UNK_TOKEN))
    normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()])
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    word_counts: Counter[str] = Counter()
    n_captions = 0
    for text in captions:
        if not isinstance(text, str):
            raise TypeError(f"captions must be strings, got {type(text).__name__}: {text!r}")
        n_captions += 1
        word_counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    if n_captions == 0:
        raise ValueError("build_small needs at least one caption to train the tokenizer; got none")
    alphabet = sorted({char for word in word_counts for char in word})
    vocab_tokens = SPECIAL_TOKENS + alphabet + [f"##{char}" for char in alphabet]
    if vocab_size < len(vocab_tokens):
        raise ValueError(
            f"vocab_size {vocab_size} is smaller than the {len(vocab_tokens)} special and character tokens "
            f"these captions need; pass vocab_size >= {len(vocab_tokens) + 100}"
        )
    taken = set(vocab_tokens)
    ranked = sorted(word_counts.items(), key=lambda item: (-item[1], item[0]))
    vocab_tokens += [word for word, _ in ranked if word not in taken][: vocab_size - len(vocab_tokens)]
    tokenizer = Tokenizer(
        WordPiece(vocab={t: i for i, t in enumerate(vocab_tokens)}, unk_token=UNK_TOKEN, max_input_chars_per_word=50)
    )
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A {EOS_TOKEN}",
        pair=f"{BOS_TOKEN} $A {EOS_TOKEN} $B {EOS_TOKEN}",
        special_tokens=[(BOS_TOKEN, BOS_ID), (EOS_TOKEN, EOS_ID)],
    )
    log.info(
        "tokenizer from %d captions: %d distinct words, vocab %d", n_captions, len(word_counts), tokenizer.get_vocab_size()
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=max_length,
        padding_side="right",
        truncation_side="right",
    )


def small_preset(**overrides) -> dict:
    """SMALL_PRESET with overrides applied; unknown keys are refused (a typo must not be ignored)."""
    unknown = set(overrides) - set(SMALL_PRESET)
    if unknown:
        raise ValueError(f"unknown small-preset overrides {sorted(unknown)}; valid keys: {sorted(SMALL_PRESET)}")
    return {**SMALL_PRESET, **overrides}


def small_config(tokenizer_vocab: int, **overrides) -> CLIPConfig:
    """The compact CLIPConfig of the `small` preset, with SMALL_PRESET keys overridable.

    `tokenizer_vocab` is the trained tokenizer's real size (the preset's vocab_size is only the
    training target; a small caption set yields fewer tokens).
    """
    p = small_preset(**overrides)
    if p["image_size"] % p["patch_size"]:
        raise ValueError(f"image_size {p['image_size']} must be a multiple of patch_size {p['patch_size']}")
    for side in ("vision_hidden", "text_hidden"):
        if p[side] % p["heads"]:
            raise ValueError(f"{side} {p[side]} must be divisible by heads {p['heads']}")
    text_config = dict(
        vocab_size=tokenizer_vocab, hidden_size=p["text_hidden"], intermediate_size=p["text_hidden"] * p["mlp_ratio"],
        num_hidden_layers=p["text_layers"], num_attention_heads=p["heads"],
        max_position_embeddings=p["max_position_embeddings"], pad_token_id=PAD_ID, bos_token_id=BOS_ID, eos_token_id=EOS_ID,
    )
    vision_config = dict(
        image_size=p["image_size"], patch_size=p["patch_size"], hidden_size=p["vision_hidden"],
        intermediate_size=p["vision_hidden"] * p["mlp_ratio"], num_hidden_layers=p["vision_layers"],
        num_attention_heads=p["heads"],
    )
    return CLIPConfig(text_config=text_config, vision_config=vision_config, projection_dim=p["projection_dim"])


def small_image_processor(image_size: int) -> CLIPImageProcessorPil:
    # The PIL backend: pure CPU, no torchvision needed, picklable for DataLoader workers.
    # Resize the whole photo to image_size x image_size (no centre crop): a 60x80 product shot
    # cropped to a square loses a quarter of its height (collars, hems, shoe tips), while the
    # from-scratch model learns the fixed 4:3 squash like any other feature (experiments/tune_small.py).
    return CLIPImageProcessorPil(
        size={"height": image_size, "width": image_size},
        do_center_crop=False,
        crop_size={"height": image_size, "width": image_size},
        image_mean=OPENAI_CLIP_MEAN,
        image_std=OPENAI_CLIP_STD,
    )


def build_small(captions: Iterable[str], out_dir, seed: int = 0, **config_overrides) -> Path:
    """Build the randomly initialised `small` CLIP and save model + tokenizer + processor to out_dir.

    `config_overrides` are SMALL_PRESET keys (e.g. vision_hidden=128). Deterministic for a seed.
    """
    started = time.perf_counter()
    preset = small_preset(**config_overrides)
    tokenizer = train_caption_tokenizer(captions, preset["vocab_size"], preset["max_position_embeddings"])
    config = small_config(len(tokenizer), **config_overrides)
    # fork_rng keeps the caller's global RNG untouched while making the init depend on the seed only.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config)
    processor = CLIPProcessor(image_processor=small_image_processor(preset["image_size"]), tokenizer=tokenizer)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    log.info(
        "built small CLIP (%.2fM parameters, vocab %d) in %.1fs -> %s",
        count_parameters(model) / 1e6, len(tokenizer), time.perf_counter() - started, out,
    )
    return out


def model_identity(name_or_path: str, model: torch.nn.Module) -> dict:
    """{"name", "weights_hash"}: the hash identifies the weights, the name is only for people.

    sha256 over every state-dict tensor's name, dtype, shape and bytes, on CPU, so it is the same
    on any device, stable across save/load, and changes when any weight changes. Full bytes rather
    than a sample because a sample can miss a fine-tuning update to a few rows; it is cheap anyway
    (0.3 s for ViT-B/32's 151M parameters on one CPU core).
    """
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy())  # a buffer view of any dtype (bf16 too), no copy
    return {"name": str(name_or_path).rstrip("/") or str(name_or_path), "weights_hash": digest.hexdigest()}
