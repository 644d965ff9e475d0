"""Percentiles and a small timer; every duration comes from time.perf_counter."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


def percentile(sorted_values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on sorted data."""
    if not sorted_values:
        return math.nan
    k = (len(sorted_values) - 1) * p / 100
    low, high = math.floor(k), math.ceil(k)
    if low == high:
        return sorted_values[low]
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (k - low)


@dataclass(frozen=True)
class Summary:
    """Latencies in milliseconds."""

    n: int
    p50: float
    p95: float
    mean: float
    max: float

    @classmethod
    def of_seconds(cls, samples: Iterable[float]) -> Summary:
        ms = sorted(s * 1000 for s in samples)
        if not ms:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        return cls(len(ms), percentile(ms, 50), percentile(ms, 95), sum(ms) / len(ms), ms[-1])

    def line(self) -> str:
        return (
            f"p50 {self.p50:7.2f} ms   p95 {self.p95:7.2f} ms   "
            f"mean {self.mean:7.2f} ms   max {self.max:7.2f} ms   (n={self.n})"
        )
