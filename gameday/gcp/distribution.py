"""Percentiles from a Cloud Monitoring distribution's buckets, and merging distributions.

A distribution (``google.api.Distribution``, a protobuf message) carries ``count``, ``bucket_options`` (linear,
exponential or explicit bounds) and ``bucket_counts`` (underflow, the finite buckets, overflow;
trailing zeros may be left out). Load balancer latencies use exponential buckets::

    merged = merge([point.value.distribution_value for ...])
    percentile(merged, 0.95)      # ms, interpolated linearly inside the bucket that holds the rank
"""

from __future__ import annotations

import math
from typing import Any


def bounds(options: Any, n_counts: int) -> list[tuple[float, float]]:
    """(lower, upper) of each bucket index 0 .. n_counts-1 (index 0 is the underflow bucket)."""
    kind = options.WhichOneof("options")
    if kind == "linear_buckets":
        lb = options.linear_buckets
        edges = [lb.offset + lb.width * i for i in range(lb.num_finite_buckets + 1)]
    elif kind == "exponential_buckets":
        eb = options.exponential_buckets
        edges = [eb.scale * eb.growth_factor ** i for i in range(eb.num_finite_buckets + 1)]
    elif kind == "explicit_buckets":
        edges = list(options.explicit_buckets.bounds)
    else:
        edges = []
    edges = [-math.inf] + edges + [math.inf]
    return [(edges[i], edges[i + 1]) for i in range(min(n_counts, len(edges) - 1))]


def merge(distributions: list[Any]) -> tuple[Any, list[int]] | None:
    """(bucket options, summed bucket counts) of distributions with the same buckets; None when empty.
    Distributions with other buckets than the first are an error (they cannot be summed)."""
    found = [d for d in distributions if d is not None and d.count]
    if not found:
        return None
    options = found[0].bucket_options
    counts: list[int] = []
    for d in found:
        if d.bucket_options != options:
            raise ValueError("latency distributions with different bucket layouts cannot be merged")
        for i, c in enumerate(d.bucket_counts):
            if i >= len(counts):
                counts.append(0)
            counts[i] += int(c)
    return options, counts


def percentile(options: Any, counts: list[int], q: float) -> float | None:
    """The ``q`` quantile (0 < q <= 1), interpolated inside its bucket; None for no samples.
    A rank in the underflow bucket reads as its upper bound, in the overflow bucket as its lower bound."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    edges = bounds(options, len(counts))
    seen = 0
    for (lower, upper), count in zip(edges, counts, strict=False):
        if count and seen + count >= rank:
            if math.isinf(lower):
                return upper
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return edges[-1][0] if edges and not math.isinf(edges[-1][0]) else None
