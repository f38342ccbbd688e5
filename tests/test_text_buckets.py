"""Length-bucketed text encoding (embed.text_features_bucketed, Embedder.encode_texts' sorting) changes
only how much padding runs through the text tower, never the features or their gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_model import build_tiny_clip

from fashion_search.model.clip import load_clip
from fashion_search.model.embed import Embedder, text_features, text_features_bucketed

TEXTS = ["red", "navy blue tshirts", "men's black casual shoes for summer. Puma Men Black Shoes",
         "watch", "women's pink kurtas", "grey", "a photo of white jeans for men, casual wear", "caps",
         "brown sandals for women", "blue", "green formal shirts for men in winter 2012 collection", "tshirts"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    model, processor = load_clip(str(build_tiny_clip(tmp_path_factory.mktemp("clip"))))
    torch.manual_seed(0)
    for param in model.parameters():  # away from the init so every weight matters for the gradients
        param.data.add_(0.05 * torch.randn_like(param))
    return model.eval(), processor


def _tokens(processor, texts):
    tok = processor.tokenizer(texts, padding=True, truncation=True, max_length=32, return_tensors="pt")
    return tok["input_ids"], tok["attention_mask"]


def test_buckets_equal_one_padded_batch_in_values_and_gradients(tiny):
    model, processor = tiny
    ids, mask = _tokens(processor, TEXTS)
    lengths = mask.sum(1)
    assert lengths.max() > 2 * lengths.min()  # the batch really has padding to trim
    weights = torch.randn(len(TEXTS), model.config.projection_dim, generator=torch.Generator().manual_seed(1))

    def features_and_grads(fn):
        model.zero_grad()
        features = fn()
        (features * weights).sum().backward()  # row-specific weights: a row swap would change the grads
        return features.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain, plain_grads = features_and_grads(lambda: text_features(model, input_ids=ids, attention_mask=mask))
    bucketed, bucket_grads = features_and_grads(lambda: text_features_bucketed(model, ids, mask, buckets=3))
    torch.testing.assert_close(bucketed, plain, rtol=0, atol=1e-5)
    assert plain_grads.keys() == bucket_grads.keys() and plain_grads
    for name, grad in plain_grads.items():
        # Summed over every token of the batch, gradients reach ~50: compare relative to their scale.
        scale = max(1.0, grad.abs().max().item())
        torch.testing.assert_close(bucket_grads[name], grad, rtol=0, atol=1e-6 * scale, msg=name)


def test_buckets_keep_input_order_for_a_reordered_batch(tiny):
    model, processor = tiny
    ids, mask = _tokens(processor, TEXTS)
    with torch.no_grad():
        forward = text_features_bucketed(model, ids, mask, buckets=4)
        backward = text_features_bucketed(model, ids.flip(0), mask.flip(0), buckets=4)
    torch.testing.assert_close(backward.flip(0), forward, rtol=0, atol=1e-5)
    # Distinct texts give distinct rows: equality above is about order, not a constant output.
    assert torch.cdist(forward, forward).add(torch.eye(len(TEXTS)) * 10).min() > 1e-3


def test_left_padded_or_small_batches_run_as_one_chunk(tiny):
    model, processor = tiny
    ids, mask = _tokens(processor, TEXTS[:4])
    with torch.no_grad():
        plain = text_features(model, input_ids=ids, attention_mask=mask)
        # 4 texts cannot fill 4 buckets of 2: one chunk, bit-identical
        assert torch.equal(text_features_bucketed(model, ids, mask, buckets=4), plain)
        left_mask = mask.flip(1)  # left padding: trimming the right would cut real tokens
        left_ids = ids.flip(1)
        assert torch.equal(text_features_bucketed(model, left_ids, left_mask, buckets=2),
                           text_features(model, input_ids=left_ids, attention_mask=left_mask))


def test_embedder_encode_texts_sorted_batches_match_one_text_at_a_time(tiny):
    model, processor = tiny
    embedder = Embedder(model, processor, device="cpu", batch_size=5)
    together = embedder.encode_texts(TEXTS)
    alone = np.concatenate([embedder.encode_texts([t]) for t in TEXTS])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-5)
    assert together.shape == (len(TEXTS), model.config.projection_dim)
