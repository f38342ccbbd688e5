"""Texts and images -> L2-normalised float32 vectors, batched; the one encoder used everywhere.

Training eval, ingest, search and the page all go through `Embedder`, so a query and the catalog
are always encoded the same way. `text_features` / `image_features` are the gradient-friendly
building blocks the trainer uses directly.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from fashion_search.model.preprocess import fast_pixel_values, plan_for

log = logging.getLogger(__name__)

# Keys a CLIP text tower accepts; tokenizers may add others (token_type_ids) that it would reject.
TEXT_INPUT_KEYS = ("input_ids", "attention_mask", "position_ids")


def _projected(output) -> torch.Tensor:
    # transformers 5 returns BaseModelOutputWithPooling whose .pooler_output is the *projected*
    # embedding; transformers 4 returned the tensor itself. Accept both.
    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    if not isinstance(pooled, torch.Tensor):
        raise TypeError(f"expected a tensor or an output with .pooler_output, got {type(output).__name__}")
    return pooled


def text_features(model, **tok) -> torch.Tensor:
    """Projected, unnormalised text embeddings (B, D); keeps the graph when grad is enabled."""
    inputs = {k: v for k, v in tok.items() if k in TEXT_INPUT_KEYS}
    return _projected(model.get_text_features(**inputs))


def text_features_bucketed(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                           buckets: int = 4) -> torch.Tensor:
    """text_features over length-sorted chunks, each trimmed to its own longest text; rows in input order.

    A batch padded to its longest caption is mostly padding (training captions: 9 tokens on
    average, padded to ~30), and the text tower's cost grows with padded length. Sorting by
    length and trimming each chunk's right padding runs ~55% fewer tokens for the same features:
    with the causal and padding masks a text never attends to padding, so the output per text is
    unchanged (up to float rounding). Left-padded input is run as one chunk.
    """
    lengths = attention_mask.sum(dim=1)  # (B,)
    right_padded = bool((attention_mask[:, 0] == 1).all()) if attention_mask.numel() else False
    if buckets <= 1 or len(input_ids) < 2 * buckets or not right_padded:
        return text_features(model, input_ids=input_ids, attention_mask=attention_mask)
    order = torch.argsort(lengths, stable=True)
    chunks = []
    for idx in torch.tensor_split(order, buckets):
        width = int(lengths[idx].max())
        chunks.append(text_features(model, input_ids=input_ids[idx, :width], attention_mask=attention_mask[idx, :width]))
    features = torch.cat(chunks)  # rows in `order`
    return features[torch.argsort(order)]  # back to input order; autograd routes gradients through both


def image_features(model, pixel_values: torch.Tensor) -> torch.Tensor:
    """Projected, unnormalised image embeddings (B, D); keeps the graph when grad is enabled."""
    return _projected(model.get_image_features(pixel_values=pixel_values))


def text_max_length(model, tokenizer) -> int:
    """Longest token sequence the text tower takes: the tokenizer's limit capped by the positions."""
    positions = int(model.config.text_config.max_position_embeddings)
    tokenizer_limit = getattr(tokenizer, "model_max_length", None) or positions
    # Tokenizers without a limit report a huge sentinel (int(1e30)); the min() handles that too.
    return min(positions, int(tokenizer_limit))


class ImagePreprocessor:
    """PIL images -> pixel_values (N, 3, H, W) float32. Pure CPU and picklable (DataLoader workers).

    For the processor configurations we ship (CLIP PIL processor: squash or shortest edge + centre
    crop) a fast path gives bit-identical pixel_values at a fraction of the cost (model/preprocess.py);
    any other processor goes through the Hugging Face processor itself. Decided once, here.
    """

    def __init__(self, image_processor):
        self.image_processor = image_processor
        self.fast_plan, why = plan_for(image_processor)
        log.debug("image preprocessing: %s", why if self.fast_plan is not None else f"HF processor ({why})")

    def __call__(self, images: Sequence[Image.Image]) -> torch.Tensor:
        images = list(images)
        for i, image in enumerate(images):
            if not isinstance(image, Image.Image):
                raise TypeError(f"images[{i}] is {type(image).__name__}, expected a PIL.Image.Image")
        if not images:
            raise ValueError("preprocess needs at least one image")
        # convert("RGB") here as well: grayscale/RGBA/P product photos are common in catalogs.
        rgb = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        # Zero-sized images go to HF so they fail there with its own error, as they always did.
        if self.fast_plan is not None and all(image.width and image.height for image in rgb):
            return fast_pixel_values(self.fast_plan, rgb)
        pixels = self.image_processor(images=rgb, return_tensors="pt")["pixel_values"]
        return pixels.to(torch.float32)


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


class Embedder:
    """Batched, inference-mode encoder around a CLIPModel and its CLIPProcessor."""

    def __init__(self, model, processor, device=None, batch_size: int = 64):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device)
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.image_preprocessor = ImagePreprocessor(processor.image_processor)
        self.batch_size = batch_size
        self.dim = int(model.config.projection_dim)
        self.max_length = text_max_length(model, self.tokenizer)
        # bf16 autocast only on CUDA: CPU bf16 matmuls are slow on most CPUs and change the numbers.
        self.autocast_dtype = (
            torch.bfloat16 if self.device.type == "cuda" and torch.cuda.is_bf16_supported() else None
        )

    @contextlib.contextmanager
    def _inference(self):
        # Restore train mode afterwards: the trainer evaluates with an Embedder mid-training.
        was_training = self.model.training
        self.model.eval()
        autocast = (
            torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype is not None
            else contextlib.nullcontext()
        )
        try:
            with torch.inference_mode(), autocast:
                yield
        finally:
            self.model.train(was_training)

    def _finish(self, features: torch.Tensor) -> np.ndarray:
        return F.normalize(features.float(), dim=-1).cpu().numpy().astype(np.float32, copy=False)

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Pad to the batch's longest text and truncate to the model's limit (never crash on length)."""
        return self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )

    def encode_texts(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """(N, D) float32 unit vectors, one per text, in order."""
        if isinstance(texts, str):
            raise TypeError("encode_texts takes a list of strings; wrap a single query as [query]")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Batches of similar length pad little (each batch pads to its longest text); rows are put
        # back in input order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        ordered = [texts[i] for i in order]
        out = []
        with self._text_inference():
            for part in tqdm(list(_batches(len(texts), self.batch_size)), desc="encode texts", disable=not progress):
                out.append(self._encode_text_batch(ordered[part]))
        features = np.empty((len(texts), self.dim), dtype=np.float32)
        features[order] = np.concatenate(out)
        return features

    def _text_inference(self):
        return self._inference()

    def _encode_text_batch(self, texts: list[str]) -> np.ndarray:
        # The one step another text backend replaces (model/onnx_text.py); validation, batching and
        # ordering above are shared, so every backend sees the same batches.
        tok = {k: v.to(self.device) for k, v in self.tokenize(texts).items()}
        return self._finish(text_features(self.model, **tok))

    def preprocess_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """pixel_values (N, 3, H, W) float32 on CPU; safe to call from DataLoader workers."""
        return self.image_preprocessor(images)

    def encode_pixels(self, pixel_values: torch.Tensor, progress: bool = False) -> np.ndarray:
        """(N, D) float32 unit vectors from already preprocessed pixel_values."""
        if not isinstance(pixel_values, torch.Tensor) or pixel_values.ndim != 4:
            got = getattr(pixel_values, "shape", type(pixel_values))
            raise ValueError(f"pixel_values must be a (N, 3, H, W) tensor, got {got}")
        if len(pixel_values) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        with self._inference():
            for part in tqdm(list(_batches(len(pixel_values), self.batch_size)), desc="encode images", disable=not progress):
                batch = pixel_values[part].to(self.device, dtype=torch.float32, non_blocking=True)
                out.append(self._finish(image_features(self.model, batch)))
        return np.concatenate(out)

    def encode_images(self, images: Sequence[Image.Image], progress: bool = False) -> np.ndarray:
        """(N, D) float32 unit vectors, one per image, in order (preprocessed batch by batch)."""
        images = list(images)
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for part in tqdm(list(_batches(len(images), self.batch_size)), desc="encode images", disable=not progress):
            out.append(self.encode_pixels(self.preprocess_images(images[part])))
        return np.concatenate(out)
