"""Fast recipe search for the from-scratch `small` CLIP on CPU (an experiment script, not the trainer).

Why it is fast: every image is decoded ONCE into a uint8 tensor cache (N, 3, S, S) saved under /tmp,
captions are pre-tokenized once, and augmentation (random resized crop + flip, no colour jitter) runs
batched on tensors. What is left per step is the model's forward/backward.

Split (the same for every run): fashion_search.catalog.splits.split_ids(all_ids, seed=0, val_frac=0.05,
test_frac=0.05). We train on "train", evaluate on "test" (~2,000 products, the corpus) with
fashion_search.evaluation.tasks (name -> image R@10, category/articleType and category/baseColour P@10).

    .venv/bin/python experiments/tune_small.py --epochs 8 --lr 1e-3 --image_size 48 --patch_size 8 --tag my-run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from fashion_search.catalog.captions import _weighted_captions
from fashion_search.catalog.products import open_catalog
from fashion_search.catalog.splits import split_ids
from fashion_search.evaluation import scoring as eval_scoring
from fashion_search.evaluation import tasks as eval_tasks
from fashion_search.model.clip import build_small, load_clip
from fashion_search.model.embed import image_features, text_features
from fashion_search.model.loss import clamp_logit_scale_, clip_loss

CATALOG = "/work/shared/data/fashion-product-images-small"
SPLIT = dict(seed=0, val_frac=0.05, test_frac=0.05)
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
PRESET_KEYS = ("image_size", "patch_size", "vision_hidden", "vision_layers", "text_hidden", "text_layers",
               "heads", "mlp_ratio", "projection_dim", "vocab_size", "max_position_embeddings")


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tag", default="run")
    ap.add_argument("--image_size", type=int, default=48)
    ap.add_argument("--patch_size", type=int, default=8)
    ap.add_argument("--vision_hidden", type=int, default=128)
    ap.add_argument("--vision_layers", type=int, default=4)
    ap.add_argument("--text_hidden", type=int, default=128)
    ap.add_argument("--text_layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--mlp_ratio", type=int, default=4)
    ap.add_argument("--projection_dim", type=int, default=128)
    ap.add_argument("--fit", choices=("squash", "pad", "crop"), default="squash",
                    help="60x80 -> SxS: squash (resize to SxS), pad (white pad to 80x80) or crop (centre crop)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=float, default=0.05, help="fraction of steps")
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--init_temp", type=float, default=0.07, help="initial temperature (logit scale 1/T)")
    ap.add_argument("--crop_scale", type=float, default=0.85, help="min area of the random crop (1 = no crop)")
    ap.add_argument("--caption_weights", default="default",
                    help="'default' (captions.py weights) or 'uniform' (every template equally likely)")
    ap.add_argument("--train_limit", type=int, default=0, help="use only this many train products (0 = all)")
    ap.add_argument("--eval_every", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", default="", help="save the final model (save_pretrained) here")
    ap.add_argument("--results", default="/tmp/tune_small_runs.jsonl")
    return ap.parse_args(argv)


# ---- data -----------------------------------------------------------------------------------------

def fit_image(image: Image.Image, size: int, fit: str) -> Image.Image:
    image = image.convert("RGB")
    if fit == "pad":
        side = max(image.size)
        canvas = Image.new("RGB", (side, side), (255, 255, 255))
        canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
        return canvas.resize((size, size), Image.Resampling.BICUBIC)
    if fit == "crop":  # what CLIPImageProcessor(shortest_edge=S) + centre crop does
        scale = size / min(image.size)
        w, h = max(size, round(image.width * scale)), max(size, round(image.height * scale))
        image = image.resize((w, h), Image.Resampling.BICUBIC)
        left, top = (w - size) // 2, (h - size) // 2
        return image.crop((left, top, left + size, top + size))
    return image.resize((size, size), Image.Resampling.BICUBIC)


def image_cache(catalog, products, size: int, fit: str) -> torch.Tensor:
    """(N, 3, S, S) uint8 in catalog order; decoded once, then loaded from /tmp."""
    path = Path(f"/tmp/tune_cache_{fit}_{size}.pt")
    if path.exists():
        cached = torch.load(path)
        if cached["ids"] == [p.id for p in products]:
            return cached["pixels"]
    started = time.time()
    pixels = torch.empty((len(products), 3, size, size), dtype=torch.uint8)
    for i, p in enumerate(products):
        array = np.asarray(fit_image(catalog.load_image(p), size, fit), dtype=np.uint8)  # (S, S, 3)
        pixels[i] = torch.from_numpy(array.copy()).permute(2, 0, 1)
    torch.save({"ids": [p.id for p in products], "pixels": pixels}, path)
    print(f"decoded {len(products)} images to {path} in {time.time() - started:.0f}s", flush=True)
    return pixels


def normalise(pixels_u8: torch.Tensor) -> torch.Tensor:
    return (pixels_u8.float() / 255.0 - MEAN) / STD


def augment(pixels_u8: torch.Tensor, gen: torch.Generator, min_scale: float) -> torch.Tensor:
    """Batched random resized crop (area min_scale..1, aspect 0.9..1.1) + horizontal flip -> float (B,3,S,S)."""
    x = normalise(pixels_u8)
    b = x.shape[0]
    area = torch.empty(b).uniform_(min_scale, 1.0, generator=gen)
    log_aspect = torch.empty(b).uniform_(math.log(0.9), math.log(1.1), generator=gen)
    sx = (area * log_aspect.exp()).sqrt().clamp(max=1.0)
    sy = (area / log_aspect.exp()).sqrt().clamp(max=1.0)
    tx = (torch.rand(b, generator=gen) * 2 - 1) * (1 - sx)
    ty = (torch.rand(b, generator=gen) * 2 - 1) * (1 - sy)
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = sx * flip, tx
    theta[:, 1, 1], theta[:, 1, 2] = sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class Captions:
    """Every product's weighted captions, pre-tokenized into one padded id matrix."""

    def __init__(self, products, tokenizer, max_len: int, uniform: bool):
        texts, weights = [], []
        self.offsets = [0]
        for p in products:
            for text, w in _weighted_captions(p).items():
                texts.append(text)
                weights.append(1.0 if uniform else float(w))
            self.offsets.append(len(texts))
        tok = tokenizer(texts, padding="max_length", truncation=True, max_length=max_len, return_tensors="pt")
        self.ids, self.mask = tok["input_ids"], tok["attention_mask"]
        self.weights = np.asarray(weights)
        self.n_texts = len(texts)

    def sample(self, product_idx: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        rows = []
        for i in product_idx:
            lo, hi = self.offsets[i], self.offsets[i + 1]
            w = self.weights[lo:hi]
            rows.append(lo + rng.choice(hi - lo, p=w / w.sum()))
        rows = torch.as_tensor(rows)
        mask = self.mask[rows]
        length = int(mask.sum(1).max())
        return self.ids[rows, :length], mask[:, :length]


# ---- eval -----------------------------------------------------------------------------------------

@torch.no_grad()
def encode_texts(model, tokenizer, texts, max_len, bs=512) -> np.ndarray:
    out = []
    for i in range(0, len(texts), bs):
        tok = tokenizer(texts[i:i + bs], padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        out.append(F.normalize(text_features(model, **tok), dim=-1))
    return torch.cat(out).numpy()


@torch.no_grad()
def encode_pixels(model, pixels_u8, bs=512) -> np.ndarray:
    out = [F.normalize(image_features(model, normalise(pixels_u8[i:i + bs])), dim=-1) for i in range(0, len(pixels_u8), bs)]
    return torch.cat(out).numpy()


def evaluate(model, tokenizer, products, pixels_u8, max_len) -> dict:
    was = model.training
    model.eval()
    image_emb = encode_pixels(model, pixels_u8)
    out = {}
    for task in (eval_tasks.name_task(products), eval_tasks.category_task(products, "articleType"),
                 eval_tasks.category_task(products, "baseColour")):
        text_emb = encode_texts(model, tokenizer, [q.text for q in task.queries], max_len)
        scores = eval_scoring.score_exact(task, text_emb, image_emb)
        key = "R@10" if task.kind == "rank" else "P@10"
        out[f"{task.name}/{key}"] = round(scores[key], 4)
        if task.kind == "precision":
            out[f"{task.name}/n_queries"] = len(task.queries)
    model.train(was)
    return out


# ---- main -----------------------------------------------------------------------------------------

def param_groups(model, wd: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        # No decay on biases, norms, embeddings tables' position rows and the logit scale.
        (no_decay if p.ndim < 2 or "embedding" in name or "logit_scale" in name else decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def main(argv=None) -> dict:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    catalog = open_catalog(CATALOG)
    products = list(catalog.products())
    splits = split_ids([p.id for p in products], **SPLIT)
    index = {p.id: i for i, p in enumerate(products)}
    train_idx = np.array(sorted(index[i] for i in splits["train"]))
    test_idx = np.array(sorted(index[i] for i in splits["test"]))
    if args.train_limit:
        train_idx = np.random.default_rng(0).permutation(train_idx)[: args.train_limit]
        train_idx.sort()
    pixels = image_cache(catalog, products, args.image_size, args.fit)
    train_products = [products[i] for i in train_idx]
    test_products = [products[i] for i in test_idx]
    # Train-fit probe: 2,000 training products scored like the test corpus (underfit vs overfit).
    probe_idx = np.random.default_rng(1).choice(len(train_idx), size=min(2000, len(train_idx)), replace=False)
    probe_idx.sort()

    preset = {k: getattr(args, k) for k in PRESET_KEYS if hasattr(args, k)}
    build_texts = (t for p in train_products for t in _weighted_captions(p))
    with tempfile.TemporaryDirectory() as tmp:
        build_small(build_texts, tmp, seed=args.seed, **preset)
        model, processor = load_clip(tmp)
    tokenizer = processor.tokenizer
    max_len = int(model.config.text_config.max_position_embeddings)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(1 / args.init_temp))
    n_params = sum(p.numel() for p in model.parameters())
    captions = Captions(train_products, tokenizer, max_len, uniform=args.caption_weights == "uniform")
    print(f"[{args.tag}] {n_params / 1e6:.2f}M params, train {len(train_idx)}, test {len(test_idx)}, "
          f"{captions.n_texts} train captions, preset {preset}", flush=True)

    steps_per_epoch = len(train_idx) // args.batch
    total = steps_per_epoch * args.epochs
    warmup = max(1, int(args.warmup * total))
    opt = torch.optim.AdamW(param_groups(model, args.wd), lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, total - warmup))))
    gen = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    history = []
    train_wall = train_cpu = 0.0
    model.train()
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(train_idx))
        t0, c0 = time.time(), time.process_time()
        losses = []
        for step in range(steps_per_epoch):
            local = order[step * args.batch:(step + 1) * args.batch]
            batch_idx = train_idx[local]
            pix = augment(pixels[torch.as_tensor(batch_idx)], gen, args.crop_scale) if args.crop_scale < 1 else \
                normalise(pixels[torch.as_tensor(batch_idx)])
            ids, mask = captions.sample(local, rng)
            img = image_features(model, pix)  # (B, D)
            txt = text_features(model, input_ids=ids, attention_mask=mask)  # (B, D)
            loss = clip_loss(img, txt, model.logit_scale.exp())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            clamp_logit_scale_(model.logit_scale)
            losses.append(loss.item())
        wall, cpu = time.time() - t0, time.process_time() - c0
        train_wall += wall
        train_cpu += cpu
        samples = steps_per_epoch * args.batch
        row = {"epoch": epoch, "loss": round(float(np.mean(losses)), 4), "wall_s": round(wall, 1),
               "samples_per_s_wall": round(samples / wall, 1),
               "samples_per_s_cpu2": round(samples / (cpu / args.threads), 1),
               "logit_scale": round(float(model.logit_scale.exp()), 2),
               "load1": round(os.getloadavg()[0], 2)}
        if epoch % args.eval_every == 0 or epoch == args.epochs:
            row.update(evaluate(model, tokenizer, test_products, pixels[torch.as_tensor(test_idx)], max_len))
            if epoch == args.epochs:
                probe = evaluate(model, tokenizer, [train_products[i] for i in probe_idx],
                                 pixels[torch.as_tensor(train_idx[probe_idx])], max_len)
                row["train_probe_name_R@10"] = probe["name_to_image/R@10"]
        history.append(row)
        print(f"[{args.tag}] " + json.dumps(row), flush=True)
    samples_total = steps_per_epoch * args.batch * args.epochs
    summary = {"tag": args.tag, "args": vars(args), "params_M": round(n_params / 1e6, 2),
               "train_wall_min": round(train_wall / 60, 1),
               "samples_per_s_cpu2": round(samples_total / (train_cpu / args.threads), 1),
               "samples_per_s_wall": round(samples_total / train_wall, 1),
               "est_unloaded_min": round(train_cpu / args.threads / 60, 1), "final": history[-1],
               "history": history}
    with open(args.results, "a") as f:
        f.write(json.dumps(summary) + "\n")
    print(f"[{args.tag}] SUMMARY " + json.dumps({k: v for k, v in summary.items() if k not in ("args", "history")}),
          flush=True)
    if args.save:
        model.save_pretrained(args.save)
        processor.save_pretrained(args.save)
    return summary


if __name__ == "__main__":
    main()
