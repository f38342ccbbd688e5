"""Free-text queries as shoppers type them, each with what a relevant product must be (hand-written).

Why: every other eval query is built from the catalog's own words (product names, bare values,
"men black casual shoes"), which is where a model trained on captions of those words is strongest.
These use other words ("sneakers", "polo", "leather", "for office", "kids") and other orders, and say
only what a shopper would hold against a result: the article type, and the colour or gender when the
query states one. Season is never required (the catalog's season is a merchandising label), and
"for men" also accepts Unisex. Relevance is {field: [values]}: AND across fields, OR within one,
judged on the catalog labels (eval_scoring.filter_mask), so it is as reliable as those labels.

Written once, before measuring anything on them, and not tuned afterwards (session 5).
"""

from __future__ import annotations

MEN, WOMEN, KIDS = ["Men", "Unisex"], ["Women", "Unisex"], ["Boys", "Girls"]

SHOPPER_QUERIES: tuple[tuple[str, dict[str, list[str]]], ...] = (
    ("red summer dress", {"articleType": ["Dresses"], "baseColour": ["Red"]}),
    ("little black dress", {"articleType": ["Dresses"], "baseColour": ["Black"]}),
    ("white sneakers", {"articleType": ["Casual Shoes", "Sports Shoes"], "baseColour": ["White"]}),
    ("running shoes for men", {"articleType": ["Sports Shoes"], "gender": MEN}),
    ("black leather handbag", {"articleType": ["Handbags"], "baseColour": ["Black"]}),
    ("brown leather belt", {"articleType": ["Belts"], "baseColour": ["Brown"]}),
    ("gold watch for women", {"articleType": ["Watches"], "baseColour": ["Gold"], "gender": WOMEN}),
    ("men's watch with a black dial", {"articleType": ["Watches"], "baseColour": ["Black"], "gender": MEN}),
    ("blue denim jeans", {"articleType": ["Jeans"], "baseColour": ["Blue"]}),
    ("skinny jeans for women", {"articleType": ["Jeans", "Jeggings"], "gender": WOMEN}),
    ("kids t-shirt", {"articleType": ["Tshirts"], "gender": KIDS}),
    ("navy polo shirt", {"articleType": ["Tshirts"], "baseColour": ["Navy Blue"]}),
    ("white formal shirt for office", {"articleType": ["Shirts"], "baseColour": ["White"]}),
    ("checked casual shirt for men", {"articleType": ["Shirts"], "gender": MEN}),
    ("floral printed kurta", {"articleType": ["Kurtas", "Kurtis"]}),
    ("yellow kurti", {"articleType": ["Kurtis", "Kurtas"], "baseColour": ["Yellow"]}),
    ("green silk saree", {"articleType": ["Sarees"], "baseColour": ["Green"]}),
    ("black aviator sunglasses", {"articleType": ["Sunglasses"], "baseColour": ["Black"]}),
    ("rubber flip flops", {"articleType": ["Flip Flops"]}),
    ("high heels for a party", {"articleType": ["Heels"]}),
    ("black heels", {"articleType": ["Heels"], "baseColour": ["Black"]}),
    ("brown formal shoes", {"articleType": ["Formal Shoes"], "baseColour": ["Brown"]}),
    ("leather wallet for men", {"articleType": ["Wallets"], "gender": MEN}),
    ("school backpack", {"articleType": ["Backpacks"]}),
    ("woollen sweater", {"articleType": ["Sweaters"]}),
    ("hooded sweatshirt", {"articleType": ["Sweatshirts"]}),
    ("grey track pants", {"articleType": ["Track Pants"], "baseColour": ["Grey", "Grey Melange"]}),
    ("black winter jacket", {"articleType": ["Jackets"], "baseColour": ["Black"]}),
    ("sports bra", {"articleType": ["Bra"]}),
    ("cotton briefs for men", {"articleType": ["Briefs"], "gender": MEN}),
    ("silver earrings", {"articleType": ["Earrings"], "baseColour": ["Silver"]}),
    ("pink lipstick", {"articleType": ["Lipstick"], "baseColour": ["Pink"]}),
    ("red nail polish", {"articleType": ["Nail Polish"], "baseColour": ["Red"]}),
    ("perfume for men", {"articleType": ["Perfume and Body Mist"], "gender": MEN}),
    ("deodorant spray", {"articleType": ["Deodorant"]}),
    ("silk tie", {"articleType": ["Ties"]}),
    ("baseball cap", {"articleType": ["Caps"]}),
    ("ankle socks", {"articleType": ["Socks"]}),
    ("sandals for men", {"articleType": ["Sandals", "Sports Sandals"], "gender": MEN}),
    ("flat shoes for women", {"articleType": ["Flats"], "gender": WOMEN}),
    ("denim shorts", {"articleType": ["Shorts"]}),
    ("party clutch", {"articleType": ["Clutches"]}),
)
