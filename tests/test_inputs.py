"""query/inputs.py: every hostile upload and query gets its InputError kind; awkward images are decoded right."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hostile_inputs import accepted, refused

from fashion_search.query.inputs import (
    MAX_QUERY_CHARS,
    InputError,
    clean_query,
    read_upload,
)


@pytest.mark.parametrize("name", sorted(refused()))
def test_hostile_uploads_are_refused_with_their_kind_quickly(name):
    data, kind = refused()[name]
    start = time.perf_counter()
    with pytest.raises(InputError) as caught:
        read_upload(data, name="look.jpg")
    assert caught.value.kind == kind
    assert 400 <= caught.value.status < 500
    assert "look.jpg" in str(caught.value)
    assert time.perf_counter() - start < 2.0  # the bomb is refused from its header, never decoded


@pytest.mark.parametrize("name", sorted(accepted()))
def test_unusual_but_valid_images_become_rgb(name):
    image = read_upload(accepted()[name])
    assert image.mode == "RGB" and image.width > 0 and image.height > 0


def test_exif_rotation_is_applied():
    image = read_upload(accepted()["exif_rotated_jpeg"])
    assert image.size == (64, 96)  # stored 96x64, viewed upright after rotating 90 degrees
    pixels = np.asarray(image).astype(int)
    # Stored: red left, blue right; rotated clockwise the red half is on top.
    top, bottom = pixels[:40].mean(axis=(0, 1)), pixels[-40:].mean(axis=(0, 1))
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0]


def test_animation_gives_its_first_frame():
    red = np.asarray(read_upload(accepted()["animated_gif"])).astype(int).mean(axis=(0, 1))
    assert red[0] > 150 and red[1] < 80


def test_sixteen_bit_grey_is_rescaled_not_clipped_white():
    grey = np.asarray(read_upload(accepted()["sixteen_bit_png"]))[..., 0]
    assert grey.min() < 10 and grey.max() > 245 and 100 < grey.mean() < 155  # a full 0..255 ramp


def test_transparent_pixels_become_white():
    from hostile_inputs import encoded
    from PIL import Image
    clear = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert np.asarray(read_upload(encoded(clear, "PNG"))).min() == 255


@pytest.mark.parametrize("raw, expected", [
    ("  red   summer dress  ", "red summer dress"),
    ("red\x00dress\x1b[31m", "red dress [31m"),
    ("red\u200bdress\u202e", "red dress"),  # zero-width space, bidi override
    ("\tblue\njeans\r\n", "blue jeans"),
    ("красное платье", "красное платье"),
    ("赤いドレス 👗", "赤いドレス 👗"),
])
def test_queries_are_cleaned_and_any_script_is_kept(raw, expected):
    assert clean_query(raw) == expected


@pytest.mark.parametrize("raw, kind", [
    ("", "query_empty"), ("   \t\n", "query_empty"), ("\x00\x01\u200b", "query_empty"),
    ("a" * 10_000, "query_too_long"), (None, "query_type"), (42, "query_type"),
])
def test_unusable_queries_are_refused(raw, kind):
    with pytest.raises(InputError) as caught:
        clean_query(raw)
    assert caught.value.kind == kind


def test_the_longest_allowed_query_passes():
    assert len(clean_query("a" * MAX_QUERY_CHARS)) == MAX_QUERY_CHARS
