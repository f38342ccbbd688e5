"""Hostile and awkward uploads, built in memory, shared by the API, page and browser tests.

REFUSED: name -> (bytes, the error kind read_upload must answer with). ACCEPTED: name -> bytes of images
that are unusual but fine (CMYK, 16-bit, palette, animated, EXIF-rotated) and must be searched.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def encoded(image: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares width x height pixels (10 gigapixels by default): a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * 1024)  # far too little data: the bomb is in the header
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def split_colour_photo(size=(64, 96)) -> Image.Image:
    """Left half red, right half blue: rotations and frame choices are visible in the pixels."""
    array = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    array[:, : size[0] // 2] = (220, 20, 20)
    array[:, size[0] // 2:] = (20, 20, 220)
    return Image.fromarray(array, "RGB")


def exif_rotated_jpeg() -> bytes:
    """A landscape-stored JPEG whose EXIF orientation 6 says: rotate 90 degrees clockwise to view."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(split_colour_photo((96, 64)), "JPEG", exif=exif.tobytes(), quality=95)


def animated_gif() -> bytes:
    red, green = Image.new("RGB", (48, 48), (220, 20, 20)), Image.new("RGB", (48, 48), (20, 200, 20))
    return encoded(red, "GIF", save_all=True, append_images=[green], duration=100, loop=0)


def sixteen_bit_png() -> bytes:
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    return encoded(Image.fromarray(ramp), "PNG")  # uint16 -> mode I;16


def refused() -> dict[str, tuple[bytes, str]]:
    photo = encoded(split_colour_photo(), "JPEG")
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8), "RGB")
    big = encoded(noise, "JPEG", quality=95)  # mostly scan data: half of it keeps every header
    return {
        "zero_bytes": (b"", "upload_empty"),
        "text_file": (b"name,price\nshirt,10\n", "upload_not_image"),
        "html_named_jpg": (b"<html><script>alert(1)</script></html>", "upload_not_image"),
        "truncated_jpeg": (big[: len(big) // 2], "upload_damaged"),
        "truncated_png": (encoded(split_colour_photo(), "PNG")[:60], "upload_damaged"),
        "decompression_bomb": (png_bomb(), "upload_too_many_pixels"),
        "bomb_64_megapixels": (png_bomb(8000, 8000), "upload_too_many_pixels"),  # under PIL's own limit
        "over_10_mb": (photo + b"\0" * (10 * 1024 * 1024), "upload_too_large"),
    }


def accepted() -> dict[str, bytes]:
    return {
        "cmyk_jpeg": encoded(split_colour_photo().convert("CMYK"), "JPEG"),
        "sixteen_bit_png": sixteen_bit_png(),
        "palette_png": encoded(split_colour_photo().convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "palette_transparent_gif": encoded(split_colour_photo().convert("P"), "GIF", transparency=0),
        "animated_gif": animated_gif(),
        "exif_rotated_jpeg": exif_rotated_jpeg(),
        "rgba_png": encoded(split_colour_photo().convert("RGBA"), "PNG"),
        "greyscale_webp": encoded(split_colour_photo().convert("L"), "WEBP"),
    }
