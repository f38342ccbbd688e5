"""`python -m fashion_search.catalog stats PATH`: what a catalog holds and what reading it repaired or dropped."""

from fashion_search.catalog.products import main

if __name__ == "__main__":
    raise SystemExit(main())
