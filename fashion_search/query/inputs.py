"""What a shopper or a program sends, checked before it reaches the encoder: query texts and uploaded images.

The search page and the HTTP API both call these, so a hostile input gets the same answer everywhere:
an `InputError` whose message says what to change (the API turns it into a 4xx with that message,
the page shows it), never a traceback or a hang.

Uploads are checked in an order that never spends more than the limits allow: the byte size first,
then the header's pixel count (a 50 kB PNG can declare 2 gigapixels: a decompression bomb), and only
then the decode. Accepted images come back as RGB with their EXIF orientation applied and, for an
animation, its first frame, so what is searched is what a person sees.
"""

from __future__ import annotations

import io
import re
import unicodedata

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_QUERY_CHARS = 500  # product queries are a few words; CLIP's text tower reads 77 tokens at most anyway
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_PIXELS = 40_000_000  # 40 MP: any phone photo, far below what would exhaust memory when decoded
DECODE_DRAFT_SIZE = (1024, 1024)  # JPEGs bigger than this are decoded at a reduced scale (the model needs ~224 px)
UPLOAD_TYPES = ("jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff")
_SPACES = re.compile(r"\s+")


class InputError(ValueError):
    """A query or upload that cannot be searched. `kind` names the problem for metrics and
    `status` is the HTTP status the API answers with; the message says what to do instead."""

    def __init__(self, message: str, kind: str, status: int = 400):
        super().__init__(message)
        self.kind = kind
        self.status = status


def clean_query(text) -> str:
    """The query as it will be encoded: control and format characters become spaces, runs of
    whitespace one space, ends stripped. Any script is fine. Raises InputError when nothing is left
    or when it is longer than MAX_QUERY_CHARS."""
    if not isinstance(text, str):
        raise InputError(f"the query must be text, got {type(text).__name__}", "query_type", 422)
    # Cc: control (NUL, ESC, ...), Cf: format (zero-width, bidi overrides), Cs: lone surrogates.
    visible = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Cs") else ch for ch in text)
    query = _SPACES.sub(" ", visible).strip()
    if not query:
        raise InputError("the query is empty: type a few words, e.g. 'red summer dress'", "query_empty", 422)
    if len(query) > MAX_QUERY_CHARS:
        raise InputError(f"the query has {len(query):,} characters; at most {MAX_QUERY_CHARS} "
                         "(describe the product in a few words)", "query_too_long", 422)
    return query


def read_upload(data: bytes, name: str = "the upload") -> Image.Image:
    """Bytes of an uploaded file -> an RGB image ready to encode, or InputError (never anything else)."""
    if not data:
        raise InputError(f"{name} is empty (0 bytes): choose a JPEG or PNG photo", "upload_empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(f"{name} is {len(data) / 1e6:.1f} MB; at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB "
                         "(a product photo needs far less)", "upload_too_large", 413)
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as err:  # PIL's own limit (far above ours) caught it from the header
        raise InputError(f"{name} declares more pixels than any photo; at most {MAX_UPLOAD_PIXELS / 1e6:.0f} MP",
                         "upload_too_many_pixels", 413) from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise InputError(f"{name} is not an image that can be read (try a JPEG or PNG)",
                         "upload_not_image", 415) from err
    width, height = image.size
    if width * height > MAX_UPLOAD_PIXELS:
        raise InputError(f"{name} is {width}x{height} pixels ({width * height / 1e6:.0f} MP); at most "
                         f"{MAX_UPLOAD_PIXELS / 1e6:.0f} MP: resize it first", "upload_too_many_pixels", 413)
    if width < 1 or height < 1:
        raise InputError(f"{name} has no pixels ({width}x{height})", "upload_not_image", 415)
    try:
        image.seek(0)  # an animation (GIF, WebP, APNG): its first frame
        image.draft("RGB", DECODE_DRAFT_SIZE)  # JPEG only: decode a huge photo at 1/2..1/8 scale, a no-op otherwise
        image.load()
        image = ImageOps.exif_transpose(image)  # a phone photo's rotation lives in its EXIF tag
        return to_rgb(image)
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError, EOFError, MemoryError) as err:
        # Truncated files fail here ("image file is truncated"), after a valid header.
        raise InputError(f"{name} is damaged or incomplete and cannot be decoded: upload the whole file again",
                         "upload_damaged") from err


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any mode: CMYK, 16-bit and 32-bit grey scaled down, palette and alpha over white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # PIL's convert("L") clips these to 0..255, which turns a 16-bit photo white: rescale instead.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        grey = np.clip(values * (255.0 / top), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))  # catalog photos sit on white
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
