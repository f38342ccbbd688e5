"""`make eval`: retrieval tasks (tasks), their scoring exact or through the store (scoring, metrics),
the shopper query sets (shopper, queries/), and the job that runs them (run)."""
