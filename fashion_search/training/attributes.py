"""Integer codes of product attributes and caption constraints, for the multi-positive loss.

Each training pair carries two (F,) int64 vectors over ATTR_FIELDS:
  image_attrs          the product's values (id and category fields), MISSING where the field is empty
  caption_constraints  the values its caption states (captions.random_caption_with_constraints),
                       UNCONSTRAINED (-1) for fields the caption says nothing about
fashion_search.model.loss.positive_mask compares them column by column. Codes are a hash of the value
string, so they are the same in every process, worker and run without a shared vocabulary; they are
masked to be >= 0, so they never equal UNCONSTRAINED or MISSING (an empty field never matches a
stated value). Collisions of two values in 63 bits are negligible.

After the ATTR_FIELDS columns come NAME_WORD_SLOTS set columns: the product's name detail words
(catalog/name_words.py) on the image side; on the caption side the words a detail caption ("striped
tshirt", "round neck tshirt") states, first, UNCONSTRAINED after them. The loss looks each stated word
up in the image's whole set (loss.positive_mask's `set_columns`), not column by column.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from fashion_search.catalog.name_words import detail_words
from fashion_search.catalog.products import Product
from fashion_search.model.loss import UNCONSTRAINED

# "id" first: a caption with the product name constrains the product itself.
ATTR_FIELDS = ("id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage")
NAME_WORD_SLOTS = 8  # a name's detail words kept for matching; more than 8 is rare (2 of 41k real names)
NAME_WORD = "name_word"  # the constraint key of a detail caption's words (a tuple)
MISSING = -2
_INT63 = (1 << 63) - 1


def attr_code(value) -> int:
    """A stable non-negative int64 for a field value (str or int)."""
    digest = hashlib.blake2b(str(value).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & _INT63


def _word_code(word: str) -> int:
    return attr_code(f"{NAME_WORD}:{word}")  # its own namespace: the word "casual" is not the usage "Casual"


def product_attr_codes(p: Product) -> list[int]:
    """(F + NAME_WORD_SLOTS,) codes of the product's ATTR_FIELDS values (MISSING for an empty field),
    then of its name's detail words (MISSING-padded)."""
    values = (getattr(p, field) for field in ATTR_FIELDS)
    fields = [MISSING if value is None or value == "" else attr_code(value) for value in values]
    words = [_word_code(word) for word in detail_words(p)[:NAME_WORD_SLOTS]]
    return fields + words + [MISSING] * (NAME_WORD_SLOTS - len(words))


def constraint_codes(constraints: Mapping[str, object]) -> list[int]:
    """(F + NAME_WORD_SLOTS,) codes of a caption's {field: value} constraints; UNCONSTRAINED for fields
    it does not state; the stated name words (a tuple) in the first set columns."""
    unknown = set(constraints) - set(ATTR_FIELDS) - {NAME_WORD}
    if unknown:
        raise ValueError(f"caption constrains fields {sorted(unknown)} outside ATTR_FIELDS {ATTR_FIELDS}")
    fields = [attr_code(constraints[field]) if field in constraints else UNCONSTRAINED for field in ATTR_FIELDS]
    words = [_word_code(word) for word in constraints.get(NAME_WORD, ())][:NAME_WORD_SLOTS]
    return fields + words + [UNCONSTRAINED] * (NAME_WORD_SLOTS - len(words))
