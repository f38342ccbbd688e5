"""store/boost.ranked: one plain filtered search per match level, merged by (matches, similarity)."""

from fashion_search.store.base import Hit
from fashion_search.store.boost import by_field, ranked

BOOST = [("articleType", "Dresses"), ("baseColour", "Red"), ("baseColour", "Maroon")]   # 2 fields


def hit(pid, score, article, colour):
    return Hit(pid, score, {"articleType": article, "baseColour": colour})


# What each level's search returns (at most `limit` nearest with >= m matches), by hand.
LEVELS = {
    2: [hit(1, 0.30, "Dresses", "Red"), hit(2, 0.20, "Dresses", "Maroon")],
    1: [hit(3, 0.90, "Tops", "Red"), hit(1, 0.30, "Dresses", "Red"), hit(4, 0.25, "Dresses", "Blue")],
    0: [hit(5, 0.95, "Jeans", "Blue"), hit(3, 0.90, "Tops", "Red"), hit(6, 0.40, "Shirts", "Black")],
}


def run(limit):
    asked = []

    def search_level(m):
        asked.append(m)
        return LEVELS[m][:limit]

    return [h.id for h in ranked(search_level, 2, BOOST, limit)], asked


def test_levels_from_the_most_matches_down_merged_by_matches_then_similarity():
    ids, asked = run(limit=5)
    assert asked == [2, 1, 0]                      # no level filled a page of 5
    assert ids == [1, 2, 3, 4, 5]                  # 2 matches, then 1 (by similarity: 0.90, 0.25), then 0


def test_a_level_that_fills_the_page_ends_the_search():
    ids, asked = run(limit=2)
    assert asked == [2] and ids == [1, 2]          # everything below has fewer matches than both
    ids, asked = run(limit=3)
    assert asked == [2, 1] and ids == [1, 2, 3]    # level 1 filled it: level 0 never searched


def test_hits_keep_their_similarity_and_pairs_group_by_field():
    merged = ranked(lambda m: LEVELS[m], 2, BOOST, 10)
    assert [h.score for h in merged] == [0.30, 0.20, 0.90, 0.25, 0.95, 0.40]
    assert by_field(BOOST) == [("articleType", ["Dresses"]), ("baseColour", ["Red", "Maroon"])]
