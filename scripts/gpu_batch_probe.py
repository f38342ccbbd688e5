"""Largest per-device training batch of a randomly initialised ViT-B/32 that fits (scripts/gpu_bench.sh).

For each batch size, largest first: two steps of the trainer's DualEncoder + clip_loss + AdamW under
bf16 autocast (as accelerate runs the trainer on a bf16 GPU) on random 224 px images and 77-token
captions; the first that fits with its peak memory under --max-fraction of the device wins. Prints the
batch on stdout (the shell script reads it) and writes every try to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch
from transformers import CLIPModel

from fashion_search.bench.runner import vit_b32_config
from fashion_search.model.loss import clip_loss
from fashion_search.training.setup import DualEncoder

TEXT_TOKENS = 77


def one_try(model, optimizer, batch: int, device: torch.device, steps: int = 2) -> dict:
    vision = model.clip.config.vision_config
    pixels = torch.randn(batch, 3, vision.image_size, vision.image_size, device=device)
    ids = torch.randint(3, 3000, (batch, TEXT_TOKENS), device=device)
    mask = torch.ones_like(ids)
    use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            image, text, scale, _ = model(pixels, ids, mask)
        loss = clip_loss(image, text, scale)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = (time.perf_counter() - started) / steps
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
    return {"batch": batch, "fits": True, "peak_gib": round(peak / 2**30, 2),
            "samples_per_s_random_tensors": round(batch / seconds, 1), "bf16": use_bf16}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batches", type=int, nargs="+", default=[2048, 1024, 512, 256])
    parser.add_argument("--max-fraction", type=float, default=0.85,
                        help="peak memory allowed, as a fraction of the device's (headroom for the data pipeline)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    device = torch.device(args.device)
    clip = CLIPModel(vit_b32_config()).to(device)  # the architecture the bench then trains
    model = DualEncoder(clip)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    total = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else None
    tries, chosen = [], None
    for batch in sorted(set(args.batches), reverse=True):
        try:
            result = one_try(model, optimizer, batch, device)
        except torch.OutOfMemoryError:
            result = {"batch": batch, "fits": False, "reason": "out of memory"}
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if result["fits"] and total is not None and result["peak_gib"] * 2**30 > args.max_fraction * total:
            result.update(fits=False, reason=f"peak above {args.max_fraction:.0%} of {total / 2**30:.0f} GiB")
        tries.append(result)
        print(json.dumps(result), file=sys.stderr)
        if result["fits"]:
            chosen = batch
            break
    with open(args.out, "w") as handle:
        json.dump({"device": str(device), "total_gib": total and round(total / 2**30, 1), "chosen": chosen,
                   "tries": tries}, handle, indent=2)
    if chosen is None:
        print("no batch size fits", file=sys.stderr)
        return 1
    print(chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
