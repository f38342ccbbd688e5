"""Held-out shopper queries: a second hand-written set, in the same format as shopper_queries.py.

Like SHOPPER_QUERIES, these are free-text queries as shoppers type them into a fashion store's search
box (synonyms, US/UK spellings, Indian-English words such as "chunni", "chappals", "frock", "gents",
slang such as "shades", "tee", "guys"), each with what a relevant product must be: the article type,
and the colour or gender only when the query states one. Season and usage are never required; "for
men" / "for women" also accept Unisex (MEN / WOMEN), "kids" means Boys or Girls (KIDS), and "for
girls" means Girls only. Relevance is {field: [values]}: AND across fields, OR within one, judged on
the catalog labels. None repeats a query of the first set.

Written in session 6 by a helper that had not seen the query parser (query_filters.py) or the shopper
vocabulary table, before anything was measured on it; the catalog was used only to spell values as
it does and to check that every query has at least 10 satisfying products. It is a held-out test:
do not tune it (or anything else against it) afterwards.
"""

from __future__ import annotations

from fashion_search.evaluation.queries.shopper import KIDS, MEN, WOMEN

HELDOUT_SHOPPER_QUERIES: tuple[tuple[str, dict[str, list[str]]], ...] = (
    ("slim fit chinos for guys", {"articleType": ["Trousers"], "gender": MEN}),
    ("ladies tops", {"articleType": ["Tops", "Tunics"], "gender": WOMEN}),
    ("black leggings", {"articleType": ["Leggings"], "baseColour": ["Black"]}),
    ("gray hoodie", {"articleType": ["Sweatshirts"], "baseColour": ["Grey", "Grey Melange"]}),
    ("knitted cardigan for her", {"articleType": ["Sweaters", "Shrug"], "gender": WOMEN}),
    ("denim jacket", {"articleType": ["Jackets"]}),
    ("jumpsuit", {"articleType": ["Jumpsuit"]}),
    ("joggers for men", {"articleType": ["Track Pants"], "gender": MEN}),
    (
        "men's navy blue formal trousers for office",
        {"articleType": ["Trousers"], "baseColour": ["Navy Blue"], "gender": MEN},
    ),
    ("graphic tees for men", {"articleType": ["Tshirts"], "gender": MEN}),
    ("frock for girls", {"articleType": ["Dresses"], "gender": ["Girls"]}),
    ("olive cargo pants", {"articleType": ["Trousers"], "baseColour": ["Olive"]}),
    ("teal kurti", {"articleType": ["Kurtis", "Kurtas"], "baseColour": ["Teal"]}),
    ("georgette sari", {"articleType": ["Sarees"]}),
    ("chunni", {"articleType": ["Dupatta"]}),
    ("patiala pants", {"articleType": ["Patiala"]}),
    ("boxer shorts", {"articleType": ["Boxers"]}),
    ("panties for women", {"articleType": ["Briefs"], "gender": WOMEN}),
    ("womens pyjama set", {"articleType": ["Night suits"], "gender": WOMEN}),
    ("nightie", {"articleType": ["Nightdress", "Baby Dolls"]}),
    ("womens trainers", {"articleType": ["Casual Shoes", "Sports Shoes"], "gender": WOMEN}),
    ("white gym shoes for ladies", {"articleType": ["Sports Shoes"], "baseColour": ["White"], "gender": WOMEN}),
    ("tan loafers", {"articleType": ["Casual Shoes", "Formal Shoes"], "baseColour": ["Tan"]}),
    ("ballet pumps", {"articleType": ["Flats"]}),
    ("gents chappals", {"articleType": ["Sandals", "Flip Flops"], "gender": MEN}),
    ("shoes for kids", {"articleType": ["Casual Shoes", "Sports Shoes", "Formal Shoes", "Flats"], "gender": KIDS}),
    ("tote bag", {"articleType": ["Handbags"]}),
    ("laptop bag for office", {"articleType": ["Laptop Bag"]}),
    ("travel duffle bag", {"articleType": ["Duffel Bag"]}),
    ("fanny pack", {"articleType": ["Waist Pouch"]}),
    ("gold bangles", {"articleType": ["Bangle"], "baseColour": ["Gold"]}),
    ("mens bracelet", {"articleType": ["Bracelet", "Bangle"], "gender": MEN}),
    ("cuff links", {"articleType": ["Cufflinks", "Ties and Cufflinks"]}),
    ("digital watch for kids", {"articleType": ["Watches"], "gender": KIDS}),
    ("shades for men", {"articleType": ["Sunglasses"], "gender": MEN}),
    ("silk scarf for women", {"articleType": ["Scarves", "Stoles"], "gender": WOMEN}),
    ("kohl pencil", {"articleType": ["Kajal and Eyeliner"]}),
    ("body spray for women", {"articleType": ["Perfume and Body Mist", "Deodorant"], "gender": WOMEN}),
    ("hair dye", {"articleType": ["Hair Colour"]}),
    ("maroon lip color", {"articleType": ["Lipstick", "Lip Gloss"], "baseColour": ["Maroon"]}),
)
