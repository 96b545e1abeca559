"""Small helpers with no better home."""

from __future__ import annotations


def stable_hash(s: str) -> int:
    """A 64-bit FNV-1a hash of a string: the same in every process (unlike ``hash``)."""
    h = 1469598103934665603
    for ch in s.encode():
        h = ((h ^ ch) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def apportion(total: int, weights) -> list[int]:
    """``total`` whole units shared in proportion to ``weights`` (largest remainders get the units
    that rounding down leaves over); they sum to ``total``."""
    exact = [total * w / sum(weights) for w in weights]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(counts)), key=lambda i: counts[i] - exact[i])[:total - sum(counts)]:
        counts[i] += 1
    return counts
