"""Procedural product pictures for the synthetic catalog: one silhouette per article type.

Shapes are written in unit coordinates (x right, y down, both 0..1) of a 3:4 portrait box, drawn
3x supersampled and box-reduced so edges are anti-aliased. Colour and silhouette are meant to be
the dominant signals (a small CLIP must learn them); patterns, logos and jitter are kept mild.
"""

from __future__ import annotations

import random
from typing import Callable

from PIL import Image, ImageChops, ImageDraw, ImageFilter

RGB = tuple[int, int, int]
SUPERSAMPLE = 3

# Patterns named in productDisplayName; the picture follows the name so the two always agree.
PATTERN_WORDS = ("Striped", "Check", "Printed")


def shade(colour: RGB, factor: float) -> RGB:
    return tuple(max(0, min(255, round(c * factor))) for c in colour)  # type: ignore[return-value]


def luminance(colour: RGB) -> float:
    r, g, b = colour
    return 0.299 * r + 0.587 * g + 0.114 * b


def contrast_colour(colour: RGB) -> RGB:
    return (40, 40, 48) if luminance(colour) > 150 else (245, 245, 240)


class Pen:
    """Maps unit coordinates to canvas pixels (with per-item scale/offset jitter) and keeps a mask.

    Shape calls paint the picture and the silhouette mask; detail calls are queued and painted
    after the pattern, so a stripe never covers a collar or a watch dial.
    """

    def __init__(self, size: tuple[int, int], fill: RGB, background: RGB, rng: random.Random):
        self.width, self.height = size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE
        self.fill = fill
        self.image = Image.new("RGB", (self.width, self.height), background)
        self.mask = Image.new("L", (self.width, self.height), 0)
        self._img = ImageDraw.Draw(self.image)
        self._mask = ImageDraw.Draw(self.mask)
        self._details: list[Callable[[], None]] = []
        # Largest centred 3:4 box, so non-default image sizes keep the proportions.
        box_w = min(self.width, self.height * 3 / 4)
        box_h = box_w * 4 / 3
        scale = rng.uniform(0.86, 1.0)
        self._sx, self._sy = box_w * scale * rng.uniform(0.96, 1.04), box_h * scale
        self._cx = self.width / 2 + rng.uniform(-0.035, 0.035) * box_w
        self._cy = self.height / 2 + rng.uniform(-0.03, 0.03) * box_h

    def pt(self, x: float, y: float) -> tuple[float, float]:
        return (self._cx + (x - 0.5) * self._sx, self._cy + (y - 0.5) * self._sy)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> list[float]:
        return [*self.pt(x0, y0), *self.pt(x1, y1)]

    def px(self, units: float) -> int:
        return max(1, round(units * self._sx))

    # --- silhouette (picture + mask) ---
    def polygon(self, points, colour: RGB | None = None) -> None:
        xy = [self.pt(x, y) for x, y in points]
        self._img.polygon(xy, fill=colour or self.fill)
        self._mask.polygon(xy, fill=255)

    def ellipse(self, x0, y0, x1, y1, colour: RGB | None = None) -> None:
        self._img.ellipse(self.box(x0, y0, x1, y1), fill=colour or self.fill)
        self._mask.ellipse(self.box(x0, y0, x1, y1), fill=255)

    def chord(self, x0, y0, x1, y1, start: float, end: float) -> None:
        self._img.chord(self.box(x0, y0, x1, y1), start, end, fill=self.fill)
        self._mask.chord(self.box(x0, y0, x1, y1), start, end, fill=255)

    def rounded(self, x0, y0, x1, y1, radius: float, colour: RGB | None = None) -> None:
        r = self.px(radius)
        self._img.rounded_rectangle(self.box(x0, y0, x1, y1), r, fill=colour or self.fill)
        self._mask.rounded_rectangle(self.box(x0, y0, x1, y1), r, fill=255)

    def arc(self, x0, y0, x1, y1, start: float, end: float, width: float) -> None:
        w = self.px(width)
        self._img.arc(self.box(x0, y0, x1, y1), start, end, fill=self.fill, width=w)
        self._mask.arc(self.box(x0, y0, x1, y1), start, end, fill=255, width=w)

    # --- details (picture only, painted last) ---
    def detail_line(self, points, colour: RGB, width: float) -> None:
        xy, w = [self.pt(x, y) for x, y in points], self.px(width)
        self._details.append(lambda: self._img.line(xy, fill=colour, width=w, joint="curve"))

    def detail_polygon(self, points, colour: RGB) -> None:
        xy = [self.pt(x, y) for x, y in points]
        self._details.append(lambda: self._img.polygon(xy, fill=colour))

    def detail_ellipse(self, x0, y0, x1, y1, colour: RGB) -> None:
        xy = self.box(x0, y0, x1, y1)
        self._details.append(lambda: self._img.ellipse(xy, fill=colour))

    def finish(self, pattern: str | None, rng: random.Random) -> Image.Image:
        if pattern:
            self._paint_pattern(pattern, rng)
        # A thin darker rim keeps light items (White, Beige) visible on the light background.
        rim = ImageChops.subtract(self.mask.filter(ImageFilter.MaxFilter(3)), self.mask)
        self.image.paste(shade(self.fill, 0.7), mask=rim)
        for paint in self._details:
            paint()
        return self.image.reduce(SUPERSAMPLE)  # box filter: anti-aliased edges, cheap

    def _paint_pattern(self, pattern: str, rng: random.Random) -> None:
        layer = self.image.copy()
        draw, ink = ImageDraw.Draw(layer), contrast_colour(self.fill)
        period = rng.uniform(0.08, 0.11)
        if pattern in ("Striped", "Check"):
            # Thin lines (about a fifth of the area) so the base colour stays dominant.
            thick = self.px(period * (0.2 if pattern == "Striped" else 0.13))
            steps = [i * period for i in range(-1, int(1 / period) + 2)]
            for y in steps:
                draw.line([self.pt(-0.2, y), self.pt(1.2, y)], fill=ink, width=thick)
            if pattern == "Check":
                for x in steps:
                    draw.line([self.pt(x, -0.2), self.pt(x, 1.2)], fill=ink, width=thick)
        elif pattern == "Printed":
            for _ in range(rng.randint(4, 7)):  # a loose scatter of small motifs
                x, y, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.75), rng.uniform(0.025, 0.04)
                draw.ellipse(self.box(x - r, y - r * 0.75, x + r, y + r * 0.75), fill=ink)
        self.image.paste(layer, mask=self.mask)


def _tshirt(pen: Pen, rng: random.Random) -> None:
    sleeve = rng.uniform(0.40, 0.45)
    pen.polygon([(0.38, 0.14), (0.44, 0.19), (0.5, 0.2), (0.56, 0.19), (0.62, 0.14), (0.8, 0.2),
                 (0.95, 0.35), (0.83, sleeve), (0.76, 0.36), (0.77, 0.88), (0.23, 0.88),
                 (0.24, 0.36), (0.17, sleeve), (0.05, 0.35), (0.2, 0.2)])
    pen.detail_line([(0.38, 0.14), (0.44, 0.19), (0.5, 0.2), (0.56, 0.19), (0.62, 0.14)],
                    shade(pen.fill, 0.75), 0.02)


def _shirt(pen: Pen, rng: random.Random) -> None:
    cuff = rng.uniform(0.8, 0.84)
    pen.polygon([(0.4, 0.12), (0.5, 0.17), (0.6, 0.12), (0.78, 0.17), (0.9, 0.3), (0.97, cuff),
                 (0.87, cuff + 0.02), (0.79, 0.45), (0.78, 0.9), (0.22, 0.9), (0.21, 0.45),
                 (0.13, cuff + 0.02), (0.03, cuff), (0.1, 0.3), (0.22, 0.17)])
    collar, dark = shade(pen.fill, 1.15), shade(pen.fill, 0.7)
    pen.detail_polygon([(0.39, 0.11), (0.5, 0.17), (0.43, 0.25)], collar)
    pen.detail_polygon([(0.61, 0.11), (0.5, 0.17), (0.57, 0.25)], collar)
    pen.detail_line([(0.5, 0.17), (0.5, 0.9)], dark, 0.012)
    for y in (0.3, 0.45, 0.6, 0.75):
        pen.detail_ellipse(0.485, y - 0.01, 0.515, y + 0.01, contrast_colour(pen.fill))


def _trousers(pen: Pen, rng: random.Random, hem: float, top: float) -> None:
    flare = rng.uniform(0.0, 0.04)
    pen.polygon([(0.3, top), (0.7, top), (0.74 + flare, hem), (0.55, hem), (0.5, top + 0.3),
                 (0.45, hem), (0.26 - flare, hem)])
    dark = shade(pen.fill, 0.7)
    pen.detail_line([(0.3, top + 0.05), (0.7, top + 0.05)], dark, 0.015)
    pen.detail_line([(0.5, top + 0.05), (0.5, top + 0.22)], dark, 0.012)


def _jeans(pen: Pen, rng: random.Random) -> None:
    _trousers(pen, rng, hem=0.95, top=0.05)
    light = shade(pen.fill, 1.3)
    pen.detail_line([(0.33, 0.16), (0.4, 0.2)], light, 0.012)
    pen.detail_line([(0.67, 0.16), (0.6, 0.2)], light, 0.012)


def _shorts(pen: Pen, rng: random.Random) -> None:
    _trousers(pen, rng, hem=rng.uniform(0.66, 0.7), top=0.22)


def _dress(pen: Pen, rng: random.Random) -> None:
    hem = rng.uniform(0.9, 0.95)
    spread = rng.uniform(0.0, 0.05)
    pen.polygon([(0.36, 0.06), (0.4, 0.06), (0.42, 0.2), (0.58, 0.2), (0.6, 0.06), (0.64, 0.06),
                 (0.66, 0.24), (0.62, 0.42), (0.84 + spread, hem), (0.16 - spread, hem),
                 (0.38, 0.42), (0.34, 0.24)])
    pen.detail_line([(0.38, 0.42), (0.62, 0.42)], shade(pen.fill, 0.7), 0.02)


def _skirt(pen: Pen, rng: random.Random) -> None:
    hem = rng.uniform(0.74, 0.8)
    pen.polygon([(0.32, 0.25), (0.68, 0.25), (0.84, hem), (0.16, hem)])
    dark = shade(pen.fill, 0.72)
    pen.detail_line([(0.32, 0.3), (0.68, 0.3)], dark, 0.02)
    for top_x, hem_x in ((0.42, 0.36), (0.5, 0.5), (0.58, 0.64)):  # pleats
        pen.detail_line([(top_x, 0.31), (hem_x, hem)], dark, 0.008)


def _casual_shoe(pen: Pen, rng: random.Random) -> None:
    sole = (236, 236, 232) if luminance(pen.fill) < 200 else (70, 60, 55)
    # Side view, heel on the left: collar dip, tongue, then a long slope down to the toe.
    pen.polygon([(0.08, 0.62), (0.09, 0.44), (0.2, 0.4), (0.33, 0.45), (0.42, 0.35), (0.52, 0.37),
                 (0.75, 0.47), (0.9, 0.52), (0.94, 0.62)])
    pen.rounded(0.08, 0.6, 0.95, 0.68, 0.03, colour=sole)
    laces = contrast_colour(pen.fill)
    for i in range(4):
        x = 0.46 + i * 0.055
        pen.detail_line([(x, 0.39 + i * 0.025), (x + 0.03, 0.44 + i * 0.025)], laces, 0.012)
    if rng.random() < 0.4:  # a side stripe "logo" on some pairs
        pen.detail_line([(0.3, 0.55), (0.55, 0.45), (0.7, 0.52)], laces, 0.02)


def _sandal(pen: Pen, rng: random.Random) -> None:
    pen.polygon([(0.07, 0.64), (0.95, 0.63), (0.94, 0.69), (0.08, 0.72)])
    pen.arc(0.5, 0.44, 0.86, 0.8, 180, 360, 0.05)
    pen.arc(0.16, 0.36, 0.42, 0.86, 180, 360, 0.05)
    if rng.random() < 0.5:
        pen.arc(0.34, 0.48, 0.58, 0.8, 200, 340, 0.04)


def _watch(pen: Pen, rng: random.Random) -> None:
    pen.polygon([(0.41, 0.02), (0.59, 0.02), (0.6, 0.98), (0.4, 0.98)])
    r = rng.uniform(0.21, 0.24)
    pen.ellipse(0.5 - r, 0.5 - r * 0.75, 0.5 + r, 0.5 + r * 0.75)
    dial = (245, 245, 240) if luminance(pen.fill) < 170 else (45, 45, 50)
    d = r * 0.68
    pen.detail_ellipse(0.5 - d, 0.5 - d * 0.75, 0.5 + d, 0.5 + d * 0.75, dial)
    hand = contrast_colour(dial)
    pen.detail_line([(0.5, 0.5), (0.5, 0.5 - d * 0.6)], hand, 0.015)
    pen.detail_line([(0.5, 0.5), (0.5 + d * 0.6, 0.5 + d * 0.2)], hand, 0.015)


def _handbag(pen: Pen, rng: random.Random) -> None:
    top = rng.uniform(0.38, 0.44)
    pen.arc(0.3, 0.16, 0.7, top + 0.24, 180, 360, 0.05)
    pen.polygon([(0.22, top), (0.78, top), (0.88, 0.88), (0.12, 0.88)])
    pen.detail_line([(0.2, top + 0.12), (0.8, top + 0.12)], shade(pen.fill, 0.7), 0.012)
    pen.detail_polygon([(0.46, top + 0.1), (0.54, top + 0.1), (0.54, top + 0.16),
                        (0.46, top + 0.16)], (200, 170, 80))


def _cap(pen: Pen, rng: random.Random) -> None:
    brim = rng.uniform(0.93, 0.97)
    pen.chord(0.16, 0.3, 0.76, 0.8, 180, 360)
    pen.polygon([(0.66, 0.53), (brim, 0.57), (brim - 0.03, 0.63), (0.6, 0.6)])
    pen.rounded(0.15, 0.53, 0.77, 0.6, 0.01)
    dark = shade(pen.fill, 0.7)
    pen.detail_line([(0.46, 0.31), (0.32, 0.55)], dark, 0.01)
    pen.detail_line([(0.46, 0.31), (0.6, 0.55)], dark, 0.01)
    pen.detail_ellipse(0.43, 0.28, 0.49, 0.32, dark)


def _sunglasses(pen: Pen, rng: random.Random) -> None:
    ry = rng.uniform(0.08, 0.1)
    pen.ellipse(0.1, 0.5 - ry, 0.46, 0.5 + ry)
    pen.ellipse(0.54, 0.5 - ry, 0.9, 0.5 + ry)
    pen.arc(0.42, 0.44, 0.58, 0.56, 200, 340, 0.03)
    pen.polygon([(0.08, 0.44), (0.03, 0.36), (0.05, 0.35), (0.11, 0.43)])
    pen.polygon([(0.92, 0.44), (0.97, 0.36), (0.95, 0.35), (0.89, 0.43)])
    glint = shade(pen.fill, 1.4) if luminance(pen.fill) < 200 else (150, 150, 150)
    pen.detail_line([(0.18, 0.47), (0.24, 0.45)], glint, 0.015)
    pen.detail_line([(0.62, 0.47), (0.68, 0.45)], glint, 0.015)


def _backpack(pen: Pen, rng: random.Random) -> None:
    pen.arc(0.4, 0.08, 0.6, 0.28, 180, 360, 0.04)
    pen.rounded(0.2, 0.17, 0.8, 0.92, rng.uniform(0.1, 0.16))
    pen.rounded(0.28, 0.56, 0.72, 0.86, 0.06)
    dark = shade(pen.fill, 0.72)
    pen.detail_line([(0.28, 0.56), (0.72, 0.56)], dark, 0.015)
    pen.detail_line([(0.3, 0.3), (0.7, 0.3)], dark, 0.012)


SILHOUETTES: dict[str, Callable[[Pen, random.Random], None]] = {
    "Tshirts": _tshirt, "Shirts": _shirt, "Jeans": _jeans, "Shorts": _shorts,
    "Dresses": _dress, "Skirts": _skirt, "Casual Shoes": _casual_shoe, "Sandals": _sandal,
    "Watches": _watch, "Handbags": _handbag, "Caps": _cap, "Sunglasses": _sunglasses,
    "Backpacks": _backpack,
}


def draw_product(article_type: str, fill: RGB, background: RGB, pattern: str | None,
                 rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """Draw one product of `article_type` in `fill` on `background`; returns an RGB image of `size`."""
    pen = Pen(size, fill, background, rng)
    SILHOUETTES[article_type](pen, rng)
    return pen.finish(pattern, rng)
