"""How good is a reward model: AUROC, best-of-n and majority vote, as pure functions."""

from __future__ import annotations

import math
from collections import Counter
from typing import Hashable, Sequence


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve: the chance that a random positive outscores a random negative
    (ties count half). 0.5 when either class is missing."""
    pos = sum(1 for y in labels if y)
    neg = len(labels) - pos
    if not pos or not neg:
        return 0.5
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):  # average ranks over ties
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, y in zip(ranks, labels) if y)
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def best_of(scores: Sequence[float]) -> int:
    """The index of the highest score (the first among equals)."""
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def majority(answers: Sequence[Hashable | None]) -> int | None:
    """The index of the first candidate holding the most common answer (None answers don't vote)."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    top = max(counts.values())
    return next(i for i, a in enumerate(answers) if a is not None and counts[a] == top)


def first_below(values: Sequence[float], threshold: float = 0.5) -> int | None:
    """The index of the first value under ``threshold`` (the step a process reward model flags as
    the first wrong one), None when there is none."""
    return next((i for i, v in enumerate(values) if v < threshold), None)


def first_error_f1(found: Sequence[int | None], actual: Sequence[int | None]) -> dict:
    """ProcessBench's measure (Zheng et al. 2024) of finding the first wrong step of each trace:
    ``erroneous``, the share of traces with a wrong step whose first one is found exactly;
    ``correct``, the share of traces without one where none is flagged; ``f1``, their harmonic
    mean (0 when either is); with the count of each kind of trace."""
    wrong = [f == a for f, a in zip(found, actual, strict=True) if a is not None]
    right = [f is None for f, a in zip(found, actual) if a is None]
    acc_wrong = sum(wrong) / len(wrong) if wrong else 0.0
    acc_right = sum(right) / len(right) if right else 0.0
    f1 = 2 * acc_wrong * acc_right / (acc_wrong + acc_right) if acc_wrong + acc_right else 0.0
    return {"f1": f1, "erroneous": acc_wrong, "correct": acc_right, "traces_with_error": len(wrong),
            "traces_without": len(right)}


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success rate (95% with the default ``z``); (0, 1) for n = 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))  # the rate inside, whatever the rounding


def mcnemar_exact(gained: int, lost: int) -> float:
    """Two-sided exact McNemar p-value: the chance of a split at least this uneven among the
    problems on which two systems disagree (``gained`` solved by one only, ``lost`` by the other
    only), if each disagreement were a fair coin."""
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(gained, lost) + 1)) / 2 ** n
    return min(1.0, 2 * tail)
