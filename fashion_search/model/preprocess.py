"""A fast path for the CLIP PIL image processor: the same pixel_values in a fraction of the time.

Why: ingest and training call the Hugging Face processor once per image in DataLoader workers, and
for a 60x80 catalog JPEG it costs ~2.3x the decode (kwargs validation, PIL <-> numpy round trips,
float64 rescale per image), so ingest was bound by preprocessing rather than by the model.

What stays exact, step by step, against transformers 5's `PilBackend` (image_processing_backends.py):
- convert: `convert_to_rgb` composites onto white only when the image has an alpha band or
  `info["transparency"]`; mirrored on the PIL image.
- resize: HF turns its uint8 CHW array back into the same PIL image and calls
  `Image.resize((w, h), resample, reducing_gap=None)`; we call that on our PIL image directly. The
  output size follows `get_resize_output_image_size(default_to_square=False)` (int() truncation).
- crop: `center_crop` takes top = (H - ch) // 2, left = (W - cw) // 2 and zero-pads an image smaller
  than the crop; `Image.crop` with that box is the same, out-of-bounds areas are zeros.
- rescale + normalize: elementwise on uint8 input, so each channel is a 256-entry table. The table is
  computed by the processor's own `rescale`/`normalize` (float64 multiply, float32 normalise), hence
  bit-identical, and applied once per batch.
Anything else (another class, padding, other size rules, variable output sizes) -> `plan_for`
returns None and the caller uses the HF processor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from transformers.image_processing_backends import PilBackend
from transformers.image_utils import ChannelDimension
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

# Classes whose preprocessing is exactly PilBackend's standard pipeline (checked again below).
SUPPORTED_CLASSES = (CLIPImageProcessorPil,)
# The pipeline's methods; a subclass overriding any of them may do something we do not mirror.
PIPELINE_METHODS = ("preprocess", "_standardize_kwargs", "_preprocess_image_like_inputs", "_prepare_image_like_inputs",
                    "process_image", "convert_to_rgb", "_preprocess", "resize", "center_crop", "rescale", "normalize")
# Options the fast path reproduces, and ones PilBackend ignores for PIL input or that we set ourselves.
HANDLED = {"do_convert_rgb", "do_resize", "size", "resample", "do_center_crop", "crop_size", "do_rescale",
           "rescale_factor", "do_normalize", "image_mean", "image_std", "do_pad", "pad_size", "data_format",
           "input_data_format"}
IGNORED = {"default_to_square", "return_tensors", "device", "disable_grouping", "image_seq_length"}
PIL_FILTERS = {int(f) for f in Image.Resampling}


@dataclass(frozen=True)
class FastPlan:
    """What to do to each image; plain values and one small array, so it pickles for workers."""

    convert_rgb: bool
    resize_to: tuple[int, int] | None     # fixed (height, width)
    shortest_edge: int | None              # or: shortest side to this, aspect kept
    resample: int
    crop: tuple[int, int] | None           # (height, width) centre crop
    lut: np.ndarray                        # (3, 256) float32: the processor's value for uint8 v in channel c
    out_hw: tuple[int, int]


def shortest_edge_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) after resizing the shorter side to `size`, as HF's get_resize_output_image_size."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def _sized(size) -> dict:
    return dict(size) if size is not None else {}


def _lut(processor, do_rescale: bool, rescale_factor, do_normalize: bool, mean, std) -> np.ndarray:
    # Every uint8 value in every channel, laid out (C, H=1, W=256) as the processor sees an image.
    values = np.broadcast_to(np.arange(256, dtype=np.uint8), (3, 1, 256)).copy()
    if do_rescale:
        values = processor.rescale(values, rescale_factor)
    if do_normalize:
        values = processor.normalize(values, mean, std)
    # Without either step HF returns uint8, which ImagePreprocessor casts to float32 anyway.
    return np.ascontiguousarray(values[:, 0, :], dtype=np.float32)


def plan_for(processor) -> tuple[FastPlan | None, str]:
    """(plan, why): a plan when the fast path reproduces this processor exactly, else (None, reason)."""
    if type(processor) not in SUPPORTED_CLASSES:
        return None, f"unsupported image processor class {type(processor).__name__}"
    overridden = [m for m in PIPELINE_METHODS if getattr(type(processor), m) is not getattr(PilBackend, m)]
    if overridden:
        return None, f"{type(processor).__name__} overrides {overridden}"
    names = list(getattr(processor, "_valid_kwargs_names", []))
    unknown = sorted(set(names) - HANDLED - IGNORED)
    if unknown or not names:
        return None, f"unknown processor options {unknown or 'none listed'}"
    # Resolve the options exactly as `preprocess` does (attributes -> standardised -> validated).
    kwargs = processor._standardize_kwargs(**{name: getattr(processor, name, None) for name in names})
    try:
        processor._validate_preprocess_kwargs(**kwargs)
    except ValueError as exc:  # HF raises the same at call time; let it
        return None, f"invalid options: {exc}"
    if kwargs["do_pad"]:
        return None, "do_pad"
    if kwargs["data_format"] not in (None, ChannelDimension.FIRST) or kwargs["input_data_format"] is not None:
        return None, "explicit data_format/input_data_format"

    resize_to = shortest_edge = None
    resample = kwargs["resample"]
    if kwargs["do_resize"]:
        size = _sized(kwargs["size"])
        if set(size) == {"height", "width"}:
            resize_to = (int(size["height"]), int(size["width"]))
        elif set(size) == {"shortest_edge"}:
            shortest_edge = int(size["shortest_edge"])
        else:
            return None, f"resize size {size}"
        resample = int(resample) if isinstance(resample, int) else None  # PILImageResampling is an IntEnum
        if resample not in PIL_FILTERS:
            return None, f"resample {kwargs['resample']!r}"
    crop = None
    if kwargs["do_center_crop"]:
        crop_size = _sized(kwargs["crop_size"])
        if set(crop_size) != {"height", "width"}:
            return None, f"crop_size {crop_size}"
        crop = (int(crop_size["height"]), int(crop_size["width"]))
    out_hw = crop or resize_to
    if out_hw is None:  # per-image sizes: HF cannot stack them into one tensor either
        return None, "output size depends on the image"
    if min(out_hw) < 1 or (resize_to and min(resize_to) < 1) or (shortest_edge is not None and shortest_edge < 1):
        return None, f"degenerate size {out_hw}"
    try:
        lut = _lut(processor, bool(kwargs["do_rescale"]), kwargs["rescale_factor"], bool(kwargs["do_normalize"]),
                   kwargs["image_mean"], kwargs["image_std"])
    except (ValueError, TypeError) as exc:  # e.g. a mean with 4 entries
        return None, f"rescale/normalize options: {exc}"
    plan = FastPlan(convert_rgb=bool(kwargs["do_convert_rgb"]), resize_to=resize_to, shortest_edge=shortest_edge,
                    resample=resample if resample is not None else 0, crop=crop, lut=lut, out_hw=out_hw)
    return plan, f"fast path: resize {resize_to or f'shortest_edge={shortest_edge}'}, crop {crop}, out {out_hw}"


def _one(plan: FastPlan, image: Image.Image) -> Image.Image:
    """An RGB PIL image -> the processor's resized (and cropped) uint8 image, still PIL."""
    if plan.convert_rgb and ("A" in image.getbands() or image.info.get("transparency") is not None):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba).convert("RGB")
    if plan.resize_to is not None:
        height, width = plan.resize_to
        image = image.resize((width, height), resample=plan.resample, reducing_gap=None)
    elif plan.shortest_edge is not None:
        height, width = shortest_edge_size(image.height, image.width, plan.shortest_edge)
        image = image.resize((width, height), resample=plan.resample, reducing_gap=None)
    if plan.crop is not None:
        crop_h, crop_w = plan.crop
        top, left = (image.height - crop_h) // 2, (image.width - crop_w) // 2
        image = image.crop((left, top, left + crop_w, top + crop_h))
    return image


def fast_pixel_values(plan: FastPlan, rgb_images: list[Image.Image]) -> torch.Tensor:
    """RGB PIL images -> (N, 3, H, W) float32, equal to the processor's pixel_values."""
    height, width = plan.out_hw
    arrays = [np.asarray(_one(plan, image)) for image in rgb_images]
    # One image per call is the common case (dataset __getitem__): skip the stack's copy.
    pixels = arrays[0][None] if len(arrays) == 1 else np.stack(arrays)  # (N, H, W, 3) uint8
    out = np.empty((len(rgb_images), 3, height, width), dtype=np.float32)  # (N, 3, H, W)
    for c in range(3):
        # mode="clip" skips the bounds-check buffer; uint8 indices are always within the 256 entries.
        np.take(plan.lut[c], pixels[..., c], out=out[:, c], mode="clip")
    return torch.from_numpy(out)
