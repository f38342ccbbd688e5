"""`python -m fashion_search.evaluation --model DIR --data CATALOG`: see fashion_search.evaluation.run."""

from fashion_search.evaluation.run import main

if __name__ == "__main__":
    raise SystemExit(main())
