"""Shopper words for catalog values: "sneakers" -> Casual Shoes or Sports Shoes, "navy" -> Navy Blue.

Why: the query matcher (query/named_values.py) finds the values a query names in the catalog's own words,
but shoppers use others. The catalog has no "Sneakers", "Navy", "Hoodie" or "Perfume": a polo shirt is
labelled Tshirts, a perfume "Perfume and Body Mist", a navy one "Navy Blue". Without these words "navy
polo shirt" named only Shirts and ranked the wrong type first.

Rules (query/named_values.py applies them):
- a phrase is matched like a catalog value (whole words, hyphens and spaces ignored, longer phrases first);
- the catalog's own words win: a phrase that is also a catalog value's key is ignored (unless that value
  is of a broader field: "perfume" is the catalog's subCategory Perfumes, 5 products, and here the
  articleType Perfume and Body Mist, 570), and a shopper word's values are dropped for a field the query
  already names in catalog words ("denim" -> Jeans, but "denim jacket" -> Jackets only) or that a filter
  already sets;
- values missing from the catalog at hand are dropped (another catalog, the synthetic one).

Written from general fashion-retail usage (UK, US and Indian English, since the catalog is Myntra's), not
fitted to the eval queries; one check against the catalog's names decided ambiguous words ("purse" names
are mostly Clutches here, "slippers" Flip Flops or Sandals). Words that mean different things in different
places without a dominant sense here ("boots", "braces", "trunks") are left out.
"""

from __future__ import annotations

from collections.abc import Mapping

# field -> value, or a tuple of values any of which is meant -> comma-separated phrases
VOCABULARY: dict[str, dict[str | tuple[str, ...], str]] = {
    "articleType": {
        "Tshirts": "polo, polos, polo shirt, polo shirts, polo tshirt, polo tshirts, tee, tees, tee shirt, "
                   "tee shirts, crew neck, v neck",
        ("Casual Shoes", "Sports Shoes"): "sneaker, sneakers, trainer, trainers, kicks",
        "Sports Shoes": "running shoes, running shoe, gym shoes, training shoes, runners",
        "Casual Shoes": "loafers, loafer, moccasins, boat shoes, canvas shoes, slip ons, espadrilles",
        "Formal Shoes": "oxfords, brogues, derbies, dress shoes, office shoes",
        "Heels": "heel, pumps, stilettos, stiletto, wedges, platforms, high heel",
        "Flats": "flat shoes, ballerinas, ballerina, ballet flats, mules, juttis, jutti",
        ("Flip Flops", "Sandals"): "slippers, slipper, sliders, slides, chappals, chappal",
        ("Sandals", "Sports Sandals"): "sandal, floaters",
        "Sweatshirts": "hoodie, hoodies, hoody",
        "Sweaters": "jumper, jumpers, pullover, pullovers, cardigan, cardigans, knitwear",
        "Track Pants": "joggers, jogger, sweatpants, trackies, track pant",
        "Trousers": "trouser, chinos, chino, slacks, pants",
        "Jeans": "denim, denims",
        "Shorts": "bermuda, bermudas",
        "Tops": "blouse, blouses, tank, tank top, crop top",
        "Dresses": "frock, frocks, gown, gowns, sundress, shirt dress, sweater dress",
        "Shirts": "dress shirt, dress shirts",
        "Jackets": "coat, coats, overcoat, parka, puffer, windcheater, windbreaker, bomber",
        "Rain Jacket": "raincoat, raincoats, rain coat",
        "Blazers": "suit jacket, sport coat",
        "Nightdress": "nightie, nighty, nightgown, nightgowns, night gown",
        ("Night suits", "Lounge Pants"): "pyjamas, pyjama, pajamas, pajama, pjs",
        "Swimwear": "swimsuit, swimsuits, bikini, bikinis, swimming costume, bathing suit",
        "Briefs": "panties, panty, knickers",
        "Innerwear Vests": "vest, vests, undershirt, undershirts, banian, baniyan",
        "Leggings": "legging",
        "Jeggings": "jegging",
        "Capris": "capri, three fourths",
        "Socks": "sock",
        "Gloves": "glove, mittens",
        "Earrings": "earring, studs, jhumka, jhumkas, hoops",
        "Cufflinks": "cufflink",
        "Necklace and Chains": "necklace, necklaces, chain, chains, choker",
        "Pendant": "locket, lockets",
        "Bangle": "kada, kadas",
        "Stoles": "shawl, shawls",
        "Ties": "necktie, neckties, bow tie",
        "Sarees": "sari, saris",
        "Lehenga Choli": "lehenga, lehengas",
        "Handbags": "tote, totes, tote bag, shoulder bag, sling bag, satchel, hobo bag",
        ("Handbags", "Clutches", "Wallets"): "purse, purses",
        "Wallets": "card holder, cardholder, billfold",
        "Backpacks": "school bag, schoolbag, bagpack",
        "Duffel Bag": "duffle, duffle bag, gym bag, travel bag, holdall",
        "Sunglasses": "shades, sunnies, goggles, aviators",
        "Watches": "wristwatch, wristwatches, wrist watch, timepiece, chronograph, smartwatch",
        "Caps": "baseball cap, snapback",
        "Perfume and Body Mist": "perfume, perfumes, cologne, eau de toilette, eau de parfum, edt, edp, attar, "
                                 "body mist",
        "Deodorant": "deo, deos, body spray",
        "Nail Polish": "nail paint, nail lacquer, nail enamel, nail colour, nail color",
        "Kajal and Eyeliner": "kajal, eyeliner, eye liner, kohl",
        "Highlighter and Blush": "blush, blusher, highlighter",
        "Foundation and Primer": "foundation, primer",
        "Face Moisturisers": "moisturiser, moisturizer, face cream",
        "Face Wash and Cleanser": "face wash, facewash, cleanser",
        "Sunscreen": "sunblock",
        "Lip Care": "lip balm, lip balms",
        "Hair Colour": "hair color, hair dye",
    },
    "baseColour": {
        "Navy Blue": "navy, navy coloured, dark blue",
        "Grey": "gray",
        "Grey Melange": "gray melange, grey marl, heather grey, heather gray",
        "Gold": "golden",
        "Multi": "multicolour, multicolor, multicoloured, multicolored, multi colour, multi color",
        "Purple": "violet",
        ("Off White", "Cream"): "ivory",
        "Turquoise Blue": "turquoise",
        "Coffee Brown": "coffee",
        "Mushroom Brown": "mushroom",
        "Lime Green": "lime",
        "Fluorescent Green": "neon green",
    },
    "gender": {
        "Men": "mens, man, gents, guys, male, for him",
        "Women": "womens, woman, ladies, lady, female, for her",
        ("Boys", "Girls"): "kids, kid, children, child, toddler, toddlers",
    },
    "usage": {
        "Formal": "office, workwear",
        "Sports": "gym, workout, running, training, yoga",
        "Ethnic": "traditional, festive, wedding",
    },
}


def vocabulary_pairs(values_by_field: Mapping[str, object] | None = None) -> dict[str, tuple[tuple[str, str], ...]]:
    """Phrase (as written) -> the (field, value) pairs it means, keeping only values the catalog has.

    values_by_field: the catalog's values per field; None keeps every value (for tests of the table).
    """
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for field, table in VOCABULARY.items():
        present = None if values_by_field is None else set(values_by_field.get(field, ()))
        for target, phrases in table.items():
            values = (target,) if isinstance(target, str) else target
            pairs = tuple((field, v) for v in values if present is None or v in present)
            if not pairs:
                continue
            for phrase in phrases.split(","):
                phrase = phrase.strip()
                out[phrase] = out.get(phrase, ()) + tuple(p for p in pairs if p not in out.get(phrase, ()))
    return out
