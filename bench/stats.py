"""Percentiles for the benchmarks, in one place: `statistics.quantiles` cut points (n=100, exclusive method)
for the latency benches, and nearest-rank for the freshness bench (30 samples, each a real observation)."""

from __future__ import annotations

import statistics
from typing import Sequence


def cuts(samples: Sequence[float]) -> list[float]:
    """The 99 cut points; a single sample is every percentile."""
    return statistics.quantiles(samples, n=100) if len(samples) > 1 else [samples[0]] * 99


def p50_p95_ms(samples: Sequence[float]) -> tuple[float, float]:
    """p50 and p95 of samples in seconds, in milliseconds."""
    points = cuts(samples)
    return points[49] * 1000, points[94] * 1000


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(rank) - 1]
