"""How good is a reward model: AUROC, best-of-n and majority vote, as pure functions."""

from __future__ import annotations

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
