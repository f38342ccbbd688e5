"""Queries -> ranked hits: the Searcher (search), the catalog values a query names (named_values) and
shoppers' words for them (vocabulary). The page, the CLI, eval and bench all search through here."""
