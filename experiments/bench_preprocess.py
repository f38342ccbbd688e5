"""ImagePreprocessor's fast path vs the Hugging Face processor, ms per image on real catalog images.

    nice -n 19 .venv/bin/python experiments/bench_preprocess.py --data ../shared/data/fashion-product-images-small

Images are decoded once up front (not timed). Each repetition runs every side over all images,
interleaved (fashion_search.bench.timing), with 1 torch thread as in a DataLoader worker. `single`
calls the preprocessor with one image at a time, as the ingest and training datasets do; `batch`
with 64 at a time, as search-by-image and the image cache could.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from fashion_search.bench.timing import interleaved
from fashion_search.catalog.products import open_catalog
from fashion_search.model.clip import small_image_processor
from fashion_search.model.embed import ImagePreprocessor


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="catalog directory (parquet or images + styles.csv)")
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    catalog = open_catalog(args.data)
    products = sorted(catalog.products(), key=lambda p: p.id)[:args.images]
    images = [catalog.load_image(p) for p in products]
    n = len(images)
    for label, processor in (("small 48px squash", small_image_processor(48)),
                             ("ViT-B/32 224px shortest edge + crop", CLIPImageProcessorPil())):
        fast = ImagePreprocessor(processor)
        assert fast.fast_plan is not None, "the fast path should cover this processor"
        hf = ImagePreprocessor(processor)
        hf.fast_plan = None  # the previous behaviour: every call through the HF processor

        def single(pre):
            return lambda _: [pre([image]) for image in images]

        def batch(pre):
            return lambda _: [pre(images[s:s + 64]) for s in range(0, n, 64)]

        samples = interleaved({"fast single": single(fast), "hf single": single(hf),
                               "fast batch64": batch(fast), "hf batch64": batch(hf)}, reps=args.reps, warmup=1)
        per_image = {name: statistics.median(ms) / n for name, ms in samples.items()}
        print(f"{label}: {n} images, median of {args.reps} interleaved reps, ms/image")
        for mode in ("single", "batch64"):
            f, h = per_image[f"fast {mode}"], per_image[f"hf {mode}"]
            print(f"  {mode:8s} fast {f:.4f}  hf {h:.4f}  fast/hf {f / h:.3f}  (speed-up x{h / f:.1f})")


if __name__ == "__main__":
    main()
