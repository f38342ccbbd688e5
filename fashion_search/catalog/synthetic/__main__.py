"""`python -m fashion_search.catalog.synthetic OUT_DIR --n N --seed S`."""

from fashion_search.catalog.synthetic.generate import main

if __name__ == "__main__":
    raise SystemExit(main())
