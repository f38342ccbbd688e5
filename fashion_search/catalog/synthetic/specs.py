"""What the synthetic catalog draws: article types with their real Kaggle categories, colours, names.

Category pairs, gender and usage splits and brands follow the real Kaggle styles.csv (roughly), so
filters and captions behave as on real data; tests/test_synthetic.py checks the pairs against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The dataset's baseColour names, as drawn (RGB). Chosen far enough apart that shade jitter never
# turns one into another (the tests' nearest-colour probe relies on it).
COLOUR_RGB: dict[str, tuple[int, int, int]] = {
    "Black": (30, 30, 32), "White": (250, 250, 248), "Grey": (128, 128, 128),
    "Blue": (40, 90, 210), "Navy Blue": (25, 35, 95), "Red": (205, 35, 40),
    "Maroon": (120, 25, 45), "Green": (45, 145, 65), "Olive": (110, 115, 45),
    "Yellow": (240, 205, 45), "Orange": (240, 125, 35), "Pink": (238, 135, 175),
    "Purple": (115, 55, 150), "Brown": (115, 72, 42), "Beige": (222, 200, 160),
}
COLOUR_WEIGHTS = {"Black": 4, "White": 3, "Blue": 3, "Navy Blue": 2, "Grey": 2, "Brown": 2,
                  "Red": 2, "Green": 1.5, "Pink": 1.5, "Purple": 1, "Yellow": 1, "Orange": 1,
                  "Beige": 1, "Maroon": 1, "Olive": 1}
SEASON_WEIGHTS = {"Summer": 48, "Fall": 26, "Winter": 19, "Spring": 7}
YEAR_WEIGHTS = {2010: 2, 2011: 30, 2012: 37, 2013: 3, 2015: 6, 2016: 14, 2017: 7, 2018: 1}


@dataclass(frozen=True)
class ArticleSpec:
    master: str                      # masterCategory / subCategory as in the real Kaggle data
    sub: str
    word: str                        # last word of every name of this type, e.g. "Shirt"
    weight: float                    # relative frequency in the catalog
    genders: dict[str, float]        # weights, roughly the real dataset's split for the type
    usages: dict[str, dict[str, float]]  # usage -> weights of the optional qualifier before `word`
    brands: tuple[str, ...]
    patterns: dict[str, float] = field(default_factory=dict)  # PATTERN_WORDS -> probability
    colours: dict[str, float] | None = None  # overrides COLOUR_WEIGHTS (jeans are denim shades)


ARTICLE_TYPES: dict[str, ArticleSpec] = {
    "Tshirts": ArticleSpec(
        "Apparel", "Topwear", "T-shirt", 3, {"Men": 70, "Women": 16, "Boys": 8, "Girls": 3, "Unisex": 3},
        {"Casual": {"": 3, "Round Neck": 1}, "Sports": {"Sports": 1}},
        ("Nike", "Puma", "ADIDAS", "Roadster", "Wrangler", "United Colors of Benetton", "Proline"),
        {"Striped": 0.15, "Printed": 0.2}),
    "Shirts": ArticleSpec(
        "Apparel", "Topwear", "Shirt", 2, {"Men": 85, "Women": 11, "Boys": 4},
        {"Casual": {"Casual": 2, "Slim Fit": 1, "": 1}, "Formal": {"Formal": 1}},
        ("Roadster", "Arrow", "Peter England", "John Miller", "Scullers", "Highlander"),
        {"Striped": 0.2, "Check": 0.2}),
    "Jeans": ArticleSpec(
        "Apparel", "Bottomwear", "Jeans", 1.5, {"Men": 55, "Women": 38, "Boys": 5, "Girls": 2},
        {"Casual": {"": 2, "Slim Fit": 1, "Skinny Fit": 1, "Washed": 1}},
        ("Spykar", "Locomotive", "Wrangler", "Lee", "Flying Machine", "Roadster"),
        colours={"Blue": 6, "Navy Blue": 2, "Black": 2, "Grey": 1, "White": 0.5}),
    "Shorts": ArticleSpec(
        "Apparel", "Bottomwear", "Shorts", 1, {"Men": 70, "Women": 13, "Boys": 10, "Girls": 7},
        {"Casual": {"": 2, "Casual": 1}, "Sports": {"Training": 1}},
        ("Nike", "ADIDAS", "Puma", "Proline", "Roadster", "Gini and Jony")),
    "Dresses": ArticleSpec(
        "Apparel", "Dress", "Dress", 1.5, {"Women": 85, "Girls": 15},
        {"Casual": {"": 2, "Sleeveless": 1}, "Party": {"Party": 1}},
        ("Femella", "Tonga", "Avirate", "Elle", "Mango", "Gini and Jony"),
        {"Printed": 0.2, "Striped": 0.1}),
    "Skirts": ArticleSpec(
        "Apparel", "Bottomwear", "Skirt", 1, {"Women": 80, "Girls": 20},
        {"Casual": {"": 1, "Pleated": 1}, "Formal": {"Formal": 1}},
        ("Gini and Jony", "Forever New", "Fabindia", "Elle", "Mango"), {"Striped": 0.1}),
    "Casual Shoes": ArticleSpec(
        "Footwear", "Shoes", "Shoes", 2, {"Men": 75, "Women": 12, "Unisex": 9, "Boys": 2, "Girls": 2},
        {"Casual": {"Casual": 1}},
        ("Puma", "ADIDAS", "Vans", "Numero Uno", "Nike", "Converse", "Fila")),
    "Sandals": ArticleSpec(
        "Footwear", "Sandal", "Sandals", 1, {"Men": 80, "Unisex": 10, "Girls": 5, "Boys": 3, "Women": 2},
        {"Casual": {"": 2, "Casual": 1}},
        ("Puma", "Lotto", "Coolers", "Franco Leone", "Lee Cooper")),
    "Watches": ArticleSpec(
        "Accessories", "Watches", "Watch", 2, {"Men": 58, "Women": 36, "Unisex": 6},
        {"Casual": {"": 2, "Analogue": 1}, "Sports": {"Sports": 1}},
        ("Fastrack", "Q&Q", "Maxima", "Titan", "CASIO", "Timex", "Fossil")),
    "Handbags": ArticleSpec(
        "Accessories", "Bags", "Handbag", 1.5, {"Women": 96, "Unisex": 4},
        {"Casual": {"": 2, "Leather": 1, "Shoulder": 1}},
        ("Murcia", "Lino Perros", "Baggit", "Kiara", "Hidesign", "Caprese")),
    "Caps": ArticleSpec(
        "Accessories", "Headwear", "Cap", 1, {"Unisex": 50, "Men": 40, "Women": 10},
        {"Casual": {"": 1, "Baseball": 1}, "Sports": {"Sports": 1}},
        ("ADIDAS", "Nike", "Puma", "Flying Machine", "Quiksilver", "Roadster")),
    "Sunglasses": ArticleSpec(
        "Accessories", "Eyewear", "Sunglasses", 1, {"Men": 55, "Women": 30, "Unisex": 15},
        {"Casual": {"": 2, "Oval": 1}},
        ("Fastrack", "Idee", "Ray-Ban", "Polaroid", "Mayhem", "Opium")),
    "Backpacks": ArticleSpec(
        "Accessories", "Bags", "Backpack", 1, {"Unisex": 87, "Men": 8, "Women": 5},
        {"Casual": {"": 2, "Laptop": 1}, "Sports": {"Sports": 1}},
        ("Wildcraft", "Nike", "ADIDAS", "Puma", "American Tourister", "Quechua")),
}
# Usage split per type (the qualifier table above says which usages exist).
USAGE_WEIGHTS = {"Tshirts": {"Casual": 85, "Sports": 15}, "Shirts": {"Casual": 72, "Formal": 28},
                 "Shorts": {"Casual": 65, "Sports": 35}, "Dresses": {"Casual": 95, "Party": 5},
                 "Skirts": {"Casual": 88, "Formal": 12}, "Watches": {"Casual": 95, "Sports": 5},
                 "Caps": {"Casual": 75, "Sports": 25}, "Backpacks": {"Casual": 88, "Sports": 12}}
