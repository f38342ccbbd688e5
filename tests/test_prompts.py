"""Attribute-prompt loss (training/prompts.py): vocabularies, labels from attribute codes, the loss value."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from tiny_model import build_tiny_clip

from fashion_search.catalog.products import Product
from fashion_search.model.clip import load_clip
from fashion_search.training.attributes import product_attr_codes
from fashion_search.training.config import ConfigError, parse_config
from fashion_search.training.prompts import IGNORE, AttributePrompts, attribute_prompt_loss, prompt_text, value_weights


def _product(pid: int, colour: str | None, article: str | None) -> Product:
    return Product(id=pid, name=f"Product {pid}", gender="Men", masterCategory="Apparel", subCategory="Topwear",
                   articleType=article, baseColour=colour, season="Summer", usage="Casual", year=2012,
                   image_ref=f"images/{pid}.jpg")


PRODUCTS = [_product(1, "Navy Blue", "Tshirts"), _product(2, "Black", "Watches"), _product(3, "Olive", "Tshirts"),
            _product(4, "Black", "Shirts")]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return load_clip(str(build_tiny_clip(tmp_path_factory.mktemp("clip"))))[1].tokenizer


def test_vocabulary_texts_and_labels(tokenizer):
    prompts = AttributePrompts(PRODUCTS, ["baseColour", "articleType"], tokenizer, max_length=32)
    assert prompts.vocab == {"baseColour": ["Black", "Navy Blue", "Olive"], "articleType": ["Shirts", "Tshirts", "Watches"]}
    assert prompt_text("Navy  Blue") == "navy blue"  # what the bare colour caption renders
    ids, mask = prompts.tokens(0)
    assert ids.shape[0] == 3 and mask.shape == ids.shape
    assert tokenizer.batch_decode(ids, skip_special_tokens=True)[1].replace(" ", "") == "navyblue"

    batch = [PRODUCTS[2], PRODUCTS[0], _product(9, None, "Watches"), _product(8, "Magenta", "Shirts")]
    attrs = torch.tensor([product_attr_codes(p) for p in batch])
    colour, article = prompts.labels(attrs)
    assert colour.tolist() == [2, 1, IGNORE, IGNORE]  # missing and unseen colours are ignored, not guessed
    assert article.tolist() == [1, 1, 2, 0]


def test_a_field_needs_two_values_and_must_be_a_category(tokenizer):
    with pytest.raises(ValueError, match="masterCategory has 1 value"):
        AttributePrompts(PRODUCTS, ["masterCategory"], tokenizer, max_length=32)
    with pytest.raises(ValueError, match="not category fields"):
        AttributePrompts(PRODUCTS, ["id"], tokenizer, max_length=32)


def test_loss_is_clips_two_directions_over_value_names():
    torch.manual_seed(0)
    image = torch.randn(4, 8)
    colours, types = torch.randn(3, 8), torch.randn(5, 8)
    colour_labels, type_labels = torch.tensor([0, 2, IGNORE, 0]), torch.tensor([4, 4, 0, 3])
    scale = torch.tensor(20.0)
    got = attribute_prompt_loss(image, [colours, types], [colour_labels, type_labels], scale)
    rows = F.normalize(image, dim=-1)

    def image_to_value(features, labels):
        terms = []
        for row, label in zip(rows, labels.tolist()):
            if label != IGNORE:
                terms.append(-torch.log_softmax(scale * F.normalize(features, dim=-1) @ row, dim=0)[label])
        return torch.stack(terms).mean()

    def value_to_image(features, labels):
        terms = []
        for v, name in enumerate(F.normalize(features, dim=-1)):
            mine = [i for i, label in enumerate(labels.tolist()) if label == v]
            if mine:  # values absent from the batch have no images to rank
                log_probs = torch.log_softmax(scale * rows @ name, dim=0)
                terms.append(-log_probs[mine].mean())
        return torch.stack(terms).mean()

    want = sum((image_to_value(f, y) + value_to_image(f, y)) / 2
               for f, y in ((colours, colour_labels), (types, type_labels))) / 2
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    # A perfectly aligned image scores low; the loss rewards the right value, not any value.
    # Field weights scale each field's term inside the mean: colour x2 adds exactly one more colour term / 2.
    colour_only = attribute_prompt_loss(image, [colours], [colour_labels], scale)
    weighted = attribute_prompt_loss(image, [colours, types], [colour_labels, type_labels], scale, field_weights=[2.0, 1.0])
    torch.testing.assert_close(weighted, got + colour_only / 2, rtol=0, atol=1e-6)
    aligned = attribute_prompt_loss(colours[[0]], [colours], [torch.tensor([0])], torch.tensor(100.0))
    wrong = attribute_prompt_loss(colours[[0]], [colours], [torch.tensor([1])], torch.tensor(100.0))
    assert aligned < 0.1 < math.log(3) < wrong


def test_no_labelled_image_gives_zero_with_a_graph():
    image = torch.randn(2, 4, requires_grad=True)
    loss = attribute_prompt_loss(image, [torch.randn(3, 4)], [torch.tensor([IGNORE, IGNORE])], torch.tensor(10.0))
    loss.backward()
    assert loss.item() == 0.0 and image.grad is not None


def test_recipe_defaults_and_config_errors(tmp_path):
    catalog = tmp_path / "styles.csv"
    catalog.write_text("id\n")
    small = parse_config(["--catalog", str(catalog), "--model", "small"])
    assert small.attribute_loss_weight == 1.0
    assert list(small.attribute_loss_field_weights().items()) == [("baseColour", 1.0), ("articleType", 1.0)]
    off = parse_config(["--catalog", str(catalog), "--model", "small", "--attribute-loss-weight", "0"])
    assert off.attribute_loss_weight == 0
    with pytest.raises(ConfigError, match="--attribute-loss-fields"):
        parse_config(["--catalog", str(catalog), "--model", "small", "--attribute-loss-fields", "colour"])
    with pytest.raises(ConfigError, match="--attribute-loss-weight must be >= 0"):
        parse_config(["--catalog", str(catalog), "--model", "small", "--attribute-loss-weight", "-1"])


def test_field_weights_parse_and_reach_the_prompts(tmp_path, tokenizer):
    catalog = tmp_path / "styles.csv"
    catalog.write_text("id\n")

    def weights(spec: str) -> dict:
        return parse_config(["--catalog", str(catalog), "--model", "small", "--attribute-loss-fields", spec]
                            ).attribute_loss_field_weights()

    assert weights("baseColour:2,articleType") == {"baseColour": 2.0, "articleType": 1.0}
    assert weights(" usage : 0.5 ") == {"usage": 0.5}
    for bad in ("baseColour:0", "baseColour:x", "baseColour,baseColour", "baseColour:-1", "baseColour:nan", ","):
        with pytest.raises(ConfigError, match="optionally with :weight"):
            weights(bad)
    prompts = AttributePrompts(PRODUCTS, ["baseColour", "articleType"], tokenizer, max_length=32, weights=[2.0, 1.0])
    assert prompts.weights == (2.0, 1.0)
    assert AttributePrompts(PRODUCTS, ["baseColour"], tokenizer, max_length=32).weights == (1.0,)
    with pytest.raises(ValueError, match="one positive weight per field"):
        AttributePrompts(PRODUCTS, ["baseColour"], tokenizer, max_length=32, weights=[1.0, 1.0])


def test_balance_weights_rare_values_up_and_keeps_the_average_weight_at_one(tokenizer):
    products = [_product(1, "Black", "Tshirts"), _product(2, "Black", "Tshirts"), _product(3, "Black", "Shirts"),
                _product(4, "Olive", "Shirts")]
    w = value_weights(products, "baseColour", ["Black", "Olive"], balance=0.5)
    assert w[1] / w[0] == pytest.approx(math.sqrt(3))  # 3 black vs 1 olive: olive weighs sqrt(3)x per image
    assert float((w * torch.tensor([3.0, 1.0])).sum() / 4) == pytest.approx(1.0)  # average over products
    assert value_weights(products, "baseColour", ["Black", "Olive"], balance=0.0).tolist() == [1.0, 1.0]
    assert AttributePrompts(products, ["baseColour"], tokenizer, max_length=32).class_weights() == [None]
    balanced = AttributePrompts(products, ["baseColour"], tokenizer, max_length=32, balance=0.5)
    torch.testing.assert_close(balanced.class_weights()[0], w)
    with pytest.raises(ValueError, match="balance must be in"):
        AttributePrompts(products, ["baseColour"], tokenizer, max_length=32, balance=2.0)


def test_class_weights_make_image_to_value_a_weighted_mean():
    torch.manual_seed(1)
    image, colours = torch.randn(5, 8), torch.randn(3, 8)
    labels, scale = torch.tensor([0, 2, IGNORE, 0, 1]), torch.tensor(15.0)
    weights = torch.tensor([0.5, 2.0, 1.5])
    got = attribute_prompt_loss(image, [colours], [labels], scale, class_weights=[weights])
    plain = attribute_prompt_loss(image, [colours], [labels], scale)
    ones = attribute_prompt_loss(image, [colours], [labels], scale, class_weights=[torch.ones(3)])
    torch.testing.assert_close(ones, plain, rtol=0, atol=1e-6)  # uniform weights change nothing
    logits = scale * F.normalize(image, dim=-1) @ F.normalize(colours, dim=-1).T
    nll = -torch.log_softmax(logits, dim=1)
    kept = [i for i, y in enumerate(labels.tolist()) if y != IGNORE]
    unweighted = torch.stack([nll[i, labels[i]] for i in kept]).mean()
    weighted = sum(weights[labels[i]] * nll[i, labels[i]] for i in kept) / sum(weights[labels[i]] for i in kept)
    # Only the image -> value half changes; the value -> image half is already a mean over values.
    torch.testing.assert_close(got - plain, (weighted - unweighted) / 2, rtol=0, atol=1e-6)
    # One labelled image of weight 0.5: the weighted mean is its own loss (the denominator is not floored at 1).
    one = torch.tensor([IGNORE, 0, IGNORE, IGNORE, IGNORE])
    alone = attribute_prompt_loss(image, [colours], [one], scale, class_weights=[weights])
    torch.testing.assert_close(alone - attribute_prompt_loss(image, [colours], [one], scale), torch.tensor(0.0),
                               rtol=0, atol=1e-6)
    catalog_args = ["--catalog", "x", "--model", "small", "--attribute-loss-balance"]
    with pytest.raises(ConfigError, match="--attribute-loss-balance must be in"):
        parse_config([*catalog_args, "1.5"])
