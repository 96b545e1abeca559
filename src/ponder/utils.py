"""Small helpers with no better home."""

from __future__ import annotations


def stable_hash(s: str) -> int:
    """A 64-bit FNV-1a hash of a string: the same in every process (unlike ``hash``)."""
    h = 1469598103934665603
    for ch in s.encode():
        h = ((h ^ ch) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h
