"""The tagger's network and its input: a photo at 60x80, as the catalog ships it, to one logit per tag.

Four conv blocks (conv 3x3, 2x2 max pool, batch norm, ReLU; 16, 32, 64, 192 features), then each
feature's average and maximum over the photo, and a linear layer: 0.19M parameters, ~21 s an epoch over
37k photos on two CPU cores (bf16 convolutions). A stripe 2 px wide survives at 60x80 and not in the CLIP
small preset's 48 px square, which is why this network exists.

- The pool comes straight after the convolution, so the batch norm and ReLU (a third of a training step
  when they ran at full resolution) see a quarter of the activations; a max pool before a ReLU is the
  same function as after it, and the batch norm still normalises what the next block sees. With the first
  blocks narrower too (24-48-96 instead of 32-64-128) a training step cost 2.6-2.8 instead of 6.1 ms a
  photo, tagging 0.6 instead of 0.9-1.2, and the val mean AP went up, 0.313-0.329 -> 0.350.
- Narrower still, 16-32-64: about half the multiply-adds, a bf16 step 0.55 instead of 1.01-1.07 ms a photo,
  so 12 epochs take less time than 8 did and reach a higher val mean AP (0.36 against 0.34).
- The maximum keeps a detail that fills a corner of the photo (a logo, a print, a buckle), which the
  average dilutes (val mean AP 0.273-0.277 -> 0.313-0.329 over two trainings each).

Taggers saved before either (`block="conv-bn-relu-pool"`, `pooling="avg"`) still load. Figures:
docs/tagging.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

INPUT_SIZE = (60, 80)           # (width, height): the "Fashion Product Images (small)" photo size
FILL = (255, 255, 255)          # catalog photos stand on white; other aspect ratios are padded with it
DEFAULT_WIDTHS = (16, 32, 64, 192)
POOLINGS = ("avg", "avg+max")
DEFAULT_POOLING = "avg+max"
BLOCKS = ("conv-pool-bn-relu", "conv-bn-relu-pool")
DEFAULT_BLOCK = "conv-pool-bn-relu"


def photo_pixels(image: Image.Image) -> np.ndarray:
    """(3, 80, 60) uint8 RGB: the photo scaled to fit 60x80 (aspect kept), centred on white."""
    image = image.convert("RGB")
    if image.size != INPUT_SIZE:
        scale = min(INPUT_SIZE[0] / image.width, INPUT_SIZE[1] / image.height)
        fitted = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                              Image.BICUBIC)
        canvas = Image.new("RGB", INPUT_SIZE, FILL)
        canvas.paste(fitted, ((INPUT_SIZE[0] - fitted.width) // 2, (INPUT_SIZE[1] - fitted.height) // 2))
        image = canvas
    return np.array(image, dtype=np.uint8).transpose(2, 0, 1)  # a writable copy: torch wraps it


def as_input(pixels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, 80, 60) -> float in [-0.5, 0.5]: the scaling the network is trained with."""
    return torch.as_tensor(pixels).float() / 255 - 0.5


class AvgMaxPool(nn.Module):
    """(B, C, H, W) -> (B, 2C): each feature's mean over the photo, then its maximum."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean((2, 3)), x.amax((2, 3))], 1)


class TagNetwork(nn.Module):
    def __init__(self, tags: int, widths: Sequence[int] = DEFAULT_WIDTHS, pooling: str = DEFAULT_POOLING,
                 block: str = DEFAULT_BLOCK):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {BLOCKS}, got {block!r}")
        self.widths, self.pooling, self.block = tuple(widths), pooling, block
        blocks, channels = [], 3
        for width in widths:
            conv, norm = nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width)
            if block == "conv-pool-bn-relu":
                blocks += [conv, nn.MaxPool2d(2), norm, nn.ReLU()]
            else:
                blocks += [conv, norm, nn.ReLU(), nn.MaxPool2d(2)]
            channels = width
        if pooling == "avg+max":
            pool, pooled = [AvgMaxPool()], 2 * channels
        else:
            pool, pooled = [nn.AdaptiveAvgPool2d(1), nn.Flatten()], channels
        self.features = nn.Sequential(*blocks, *pool)                                      # (B, pooled)
        self.head = nn.Linear(pooled, tags)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))                                              # (B, tags)


def for_inference(network: TagNetwork) -> nn.Module:
    """The same function, faster on a CPU: each batch norm that follows its convolution folded into it
    (its statistics are fixed after training; after a pool it stays, on a quarter of the activations)
    and the activations in channels-last order, which the CPU convolution kernels prefer. The trained
    module is untouched."""
    layers, blocks = [], list(network.eval().features)
    while blocks:
        layer = blocks.pop(0)
        if isinstance(layer, nn.Conv2d) and blocks and isinstance(blocks[0], nn.BatchNorm2d):
            layer = fuse_conv_bn_eval(layer, blocks.pop(0))
        layers.append(layer)
    return nn.Sequential(*layers, network.head).eval().to(memory_format=torch.channels_last)
