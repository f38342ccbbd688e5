"""Hand-written shopper query sets."""
