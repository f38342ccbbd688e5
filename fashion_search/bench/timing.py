"""Interleaved timing: the two (or more) sides of a comparison alternate within every repetition.

Measuring A for a minute and then B for a minute lets a neighbour's burst of CPU use land on one
side only. Alternating A, B / B, A per repetition spreads such drift over both sides equally.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np


def interleaved(candidates: dict[str, Callable[[int], object]], reps: int, warmup: int = 2) -> dict[str, list[float]]:
    """Milliseconds per call of each candidate; candidate(i) gets the repetition index i.

    Order alternates per repetition (A B, B A, ...); `warmup` untimed rounds go first (lazy
    initialisation, caches, thread pools).
    """
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    names = list(candidates)
    for i in range(warmup):
        for name in names:
            candidates[name](i)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(reps):
        for name in names if i % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            candidates[name](i)
            samples[name].append((time.perf_counter() - start) * 1000.0)
    return samples


def latency_summary(samples_ms: list[float]) -> dict:
    values = np.asarray(samples_ms, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no samples to summarise")
    return {"p50_ms": float(np.percentile(values, 50)), "p95_ms": float(np.percentile(values, 95)),
            "mean_ms": float(values.mean()), "n": int(values.size)}


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, refusing a zero or non-finite denominator (a broken measurement)."""
    if not math.isfinite(denominator) or denominator <= 0 or not math.isfinite(numerator):
        raise ValueError(f"cannot form a ratio of {numerator} / {denominator}: a measurement failed")
    return float(numerator / denominator)


def median(values) -> float:
    if not len(values):
        raise ValueError("no values: a measurement produced nothing")
    return float(np.median(np.asarray(values, dtype=np.float64)))


def paired_ratio(numerators: list[float], denominators: list[float]) -> float:
    """Median over repetitions of numerator_i / denominator_i: each ratio compares two runs made
    back to back, so load that drifts over the whole benchmark cancels out of it."""
    if len(numerators) != len(denominators):
        raise ValueError(f"unpaired measurements: {len(numerators)} vs {len(denominators)}")
    return median([ratio(a, b) for a, b in zip(numerators, denominators)])
