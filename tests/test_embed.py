"""embed.py: unit-norm float32 vectors, batching invariance, truncation, workers, feature helpers."""

import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_model import TINY_OVERRIDES, build_tiny_clip

from fashion_search.model.clip import load_clip
from fashion_search.model.embed import Embedder, ImagePreprocessor, image_features, text_features

DIM = TINY_OVERRIDES["projection_dim"]
TEXTS = [
    "men navy blue shirts",
    "women red handbags for party wear",
    "black casual shoes",
    "",
    "girls pink dresses summer 2012",
    "white watches",
    "unisex grey caps for sports wear",
]


@pytest.fixture(scope="module")
def model_and_processor(tmp_path_factory):
    return load_clip(str(build_tiny_clip(tmp_path_factory.mktemp("tiny") / "clip")))


@pytest.fixture()
def embedder(model_and_processor):
    return Embedder(*model_and_processor, device="cpu", batch_size=64)


def images(n=7):
    rng = np.random.default_rng(1)
    made = [Image.fromarray(rng.integers(0, 255, (80, 60, 3), dtype=np.uint8)) for _ in range(n)]
    made[1] = made[1].convert("L")  # grayscale catalog photos must work too
    made[2] = made[2].convert("RGBA")
    return made


def assert_unit_float32(vectors, n):
    assert vectors.dtype == np.float32 and vectors.shape == (n, DIM)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_texts_become_unit_float32_rows_in_input_order(embedder):
    vectors = embedder.encode_texts(TEXTS)
    assert embedder.dim == DIM
    assert_unit_float32(vectors, len(TEXTS))
    swapped = embedder.encode_texts([TEXTS[1], TEXTS[0]])
    np.testing.assert_allclose(swapped, vectors[[1, 0]], atol=1e-6)
    assert np.abs(vectors[0] - vectors[1]).max() > 1e-3


def test_images_become_unit_float32_rows(embedder):
    vectors = embedder.encode_images(images())
    assert_unit_float32(vectors, 7)
    assert np.abs(vectors[0] - vectors[3]).max() > 1e-3


def test_batching_gives_the_same_vectors_as_one_batch(model_and_processor):
    whole = Embedder(*model_and_processor, device="cpu", batch_size=64)
    small = Embedder(*model_and_processor, device="cpu", batch_size=3)
    np.testing.assert_allclose(small.encode_texts(TEXTS), whole.encode_texts(TEXTS), atol=1e-5)
    np.testing.assert_allclose(small.encode_images(images()), whole.encode_images(images()), atol=1e-5)


def test_long_texts_are_truncated_to_the_model_limit(embedder):
    long_a = "men navy blue shirts " * 40 + "for party wear"
    long_b = "men navy blue shirts " * 40 + "in winter 2016"
    tok = embedder.tokenize([long_a])
    assert tok["input_ids"].shape[1] == embedder.max_length == 32
    assert int(tok["input_ids"][0, -1]) == embedder.tokenizer.eos_token_id
    vectors = embedder.encode_texts([long_a, long_b])
    assert_unit_float32(vectors, 2)
    # They differ only past the limit, so after truncation they are the same text.
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)


def test_pixels_path_matches_images_path_and_preprocessor_pickles(embedder):
    pixels = embedder.preprocess_images(images())
    assert pixels.dtype == torch.float32 and tuple(pixels.shape) == (7, 3, 32, 32)
    np.testing.assert_allclose(embedder.encode_pixels(pixels), embedder.encode_images(images()), atol=1e-6)
    # DataLoader workers receive the preprocessor by pickling it.
    clone = pickle.loads(pickle.dumps(embedder.image_preprocessor))
    assert isinstance(clone, ImagePreprocessor)
    torch.testing.assert_close(clone(images()), pixels, rtol=0, atol=0)


def test_bad_inputs_are_clear_errors_and_empty_is_empty(embedder):
    with pytest.raises(TypeError, match=r"wrap a single query"):
        embedder.encode_texts("men shirts")
    with pytest.raises(TypeError, match=r"texts\[1\] is NoneType"):
        embedder.encode_texts(["ok", None])
    with pytest.raises(TypeError, match=r"images\[0\] is str"):
        embedder.encode_images(["a.jpg"])
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        embedder.encode_pixels(torch.zeros(3, 32, 32))
    assert embedder.encode_texts([]).shape == (0, DIM)
    assert embedder.encode_images([]).shape == (0, DIM)
    with pytest.raises(ValueError, match="batch_size"):
        Embedder(embedder.model, embedder.processor, device="cpu", batch_size=0)


def test_encoding_restores_train_mode(embedder):
    embedder.model.train()
    try:
        embedder.encode_texts(TEXTS[:2])
        assert embedder.model.training
    finally:
        embedder.model.eval()


def test_feature_helpers_keep_gradients_and_accept_tensor_or_output(model_and_processor, embedder):
    model, processor = model_and_processor
    tok = processor.tokenizer(TEXTS[:3], padding=True, return_tensors="pt")
    pixels = embedder.preprocess_images(images(3))
    texts = text_features(model, **tok)
    pics = image_features(model, pixels)
    assert texts.shape == pics.shape == (3, DIM) and texts.requires_grad and pics.requires_grad
    (texts.sum() + pics.sum()).backward()
    assert model.text_projection.weight.grad is not None and model.visual_projection.weight.grad is not None
    model.zero_grad(set_to_none=True)
    # Unnormalised: the Embedder's unit vectors are these, divided by their norms.
    expected = torch.nn.functional.normalize(texts.detach(), dim=-1).numpy()
    np.testing.assert_allclose(embedder.encode_texts(TEXTS[:3]), expected, atol=1e-5)

    class TensorReturningModel:  # transformers 4 returned the projected tensor itself
        def get_text_features(self, input_ids, attention_mask=None):
            return torch.ones(len(input_ids), 4)

        def get_image_features(self, pixel_values):
            return torch.zeros(len(pixel_values), 4)

    legacy = TensorReturningModel()
    assert torch.equal(text_features(legacy, input_ids=tok["input_ids"], token_type_ids=tok["input_ids"]), torch.ones(3, 4))
    assert torch.equal(image_features(legacy, pixels), torch.zeros(3, 4))
