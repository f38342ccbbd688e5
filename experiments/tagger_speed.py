"""How long does the photo tagger take a photo, to train and to tag, for each block order and width,
and with the convolutions in bf16 (torch.autocast, as the training job runs on a CPU with AVX-512 BF16)?

A training step (forward, backward, AdamW; batch 128, channels-last as train/train_tagger.py runs it) and
the inference network ingest runs (tagging.network.for_inference; batch 64), on random photos: the cost
does not depend on the weights. Median of the steps after a warm-up, the networks interleaved.

    .venv/bin/python experiments/tagger_speed.py [--reps 12]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from fashion_search.tagging.network import TagNetwork, as_input, for_inference

NETWORKS = {
    "conv-bn-relu-pool, 32-64-128-192 (before)": dict(widths=(32, 64, 128, 192), block="conv-bn-relu-pool"),
    "conv-pool-bn-relu, 32-64-128-192": dict(widths=(32, 64, 128, 192), block="conv-pool-bn-relu"),
    "conv-pool-bn-relu, 24-48-96-192, float32": dict(widths=(24, 48, 96, 192), block="conv-pool-bn-relu"),
    "conv-pool-bn-relu, 24-48-96-192, bf16 autocast": dict(widths=(24, 48, 96, 192), block="conv-pool-bn-relu",
                                                           bf16=True),
    "conv-pool-bn-relu, 16-32-64-192, float32": dict(widths=(16, 32, 64, 192), block="conv-pool-bn-relu"),
    "conv-pool-bn-relu, 16-32-64-192 (default), bf16 autocast": dict(widths=(16, 32, 64, 192),
                                                                     block="conv-pool-bn-relu", bf16=True),
}
TAGS = 130


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=12, help="Timed steps per network (after 3 warm-up steps).")
    args = parser.parse_args()
    torch.manual_seed(0)
    photos = torch.randint(0, 255, (128, 3, 80, 60), dtype=torch.uint8)
    targets = (torch.rand(128, TAGS) < 0.03).float()
    bf16 = {name: kw.get("bf16", False) for name, kw in NETWORKS.items()}
    nets = {name: TagNetwork(TAGS, **{k: v for k, v in kw.items() if k != "bf16"}).to(memory_format=torch.channels_last)
            for name, kw in NETWORKS.items()}
    optimizers = {name: torch.optim.AdamW(net.parameters(), 2e-3) for name, net in nets.items()}
    train_ms = {name: [] for name in nets}
    for rep in range(args.reps + 3):
        for name, net in nets.items():
            start = time.perf_counter()
            x = as_input(photos).contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16[name]):
                logits = net(x)
            loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), targets)
            optimizers[name].zero_grad()
            loss.backward()
            optimizers[name].step()
            if rep >= 3:
                train_ms[name].append(1000 * (time.perf_counter() - start) / len(photos))
    inference = {name: for_inference(net) for name, net in nets.items()}
    tag_ms = {name: [] for name in nets}
    with torch.inference_mode():
        for rep in range(5 * args.reps + 5):
            for name, net in inference.items():
                start = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16[name]):
                    net(as_input(photos[:64]).contiguous(memory_format=torch.channels_last))
                if rep >= 5:
                    tag_ms[name].append(1000 * (time.perf_counter() - start) / 64)
    print("| network | parameters | training step, ms a photo | tagging, ms a photo |\n|---|---|---|---|")
    for name, net in nets.items():
        params = sum(p.numel() for p in net.parameters()) / 1e6
        print(f"| {name} | {params:.3f}M | {np.median(train_ms[name]):.2f} | {np.median(tag_ms[name]):.2f} |")


if __name__ == "__main__":
    main()
