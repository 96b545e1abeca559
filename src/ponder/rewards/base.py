"""The ``RewardModel`` base class, the aggregators that reduce per-step scores to one number, and
the registry that finds a reward model by name or path.

Every reward model answers ``score(problem, texts) -> list[list[float]]``: for each text (a
completion of the problem's prompt), one score in [0, 1] per step, read as the probability that
the reasoning so far leads to a correct answer. Process judges (the PRM / value model, the ORM
read after each step, the oracle) give one score per step of ``task.steps(text)`` and, for a
finished text, one more: the judgement of the whole text, read after its end (built with
``partial=True``, they take texts as prefixes still growing and leave that one out). Outcome
judges (GenRM, GenRM-CoT, the text critic) read the whole text and give a list of one score.
An aggregator turns a list into the number a strategy ranks by.

Each reward model counts what it reads and writes in ``usage`` (``reward_tokens``), so a
strategy can report the verifier's share of the compute.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from ponder.errors import UserError
from ponder.types import Problem, Usage


class RewardModel:
    """What a reward model is: ``score``, and what else it can do, declared here with defaults, so
    that a strategy asks a reward model what it can do rather than probe it for methods (a
    strategy's ``reward_kind`` says what it needs). A reward model subclasses it and overrides
    what it has."""

    name: str = ""
    usage: Usage
    """Tokens read and written so far (``reward_tokens``), accumulated over every call."""
    kind: str = "process"
    """What ``score`` judges: ``process``, one score per step (the PRM / value model, the ORM read
    after each step, the oracle, a token-classification checkpoint), or ``outcome``, one score for
    the whole text (GenRM, GenRM-CoT, the text critic, a sequence-classification checkpoint)."""
    gives_values: bool = False
    """``values`` gives the value of partial texts, what tree search needs (``reward_kind``
    "process"); without it ``values`` raises a ``UserError`` that says so."""
    aggregate: str | None = None
    """How a search makes one score of a finished text's per-step scores (``AGGREGATORS``), when
    the model knows best; None: by its name (``ponder.search.base.DEFAULT_AGGREGATE``)."""
    writes_critiques: bool = False
    """``critiques`` writes a critique and a verdict of each text, what a reviser reads
    (``reward_kind`` "critic")."""

    def score(self, problem: Problem, texts: Sequence[str]) -> list[list[float]]:
        """For each text, one score per step (outcome judges: one score for the whole text)."""
        raise NotImplementedError

    def estimate(self, tokens: int) -> int:
        """Reward tokens to score one text of ``tokens`` tokens (prompt included), before any is
        seen: by default it reads them once."""
        return tokens

    def values(self, problem: Problem, texts: Sequence[str]) -> list[float]:
        """The value of each partial text: the chance its reasoning will succeed (``gives_values``)."""
        raise UserError(f"tree search needs a process reward model that scores partial reasoning "
                        f"(prm or orm), not {self.name!r}")

    def reset_cache(self) -> None:
        """Forget every text read before (its prefix cache), so that what it is charged next is what
        reading afresh costs: an evaluation starts with it, or a sweep's later points would be
        charged less for the texts an earlier point read (a model without a cache does nothing)."""

    def critiques(self, problem: Problem, texts: Sequence[str]) -> list:
        """The critique and verdict of each text, as ``ponder.rewards.generative.Judgement``s
        (``writes_critiques``)."""
        raise NotImplementedError(f"{self.name} writes no critiques (writes_critiques is False)")


# --------------------------------------------------------------------------- aggregators


def _product(scores: Sequence[float]) -> float:
    return math.prod(scores)


def _mean(scores: Sequence[float]) -> float:
    return sum(scores) / len(scores)


AGGREGATORS: dict[str, Callable[[Sequence[float]], float]] = {
    "last": lambda s: s[-1],
    "min": min,
    "product": _product,
    "mean": _mean,
}
"""How per-step scores become one: ``last`` (the value after the final step, what an ORM
predicts), ``min`` (the weakest step, "Let's Verify Step by Step"), ``product`` (every step
right), ``mean``."""


def aggregate(scores: Sequence[float], how: str = "last") -> float:
    """One number for a text's per-step scores; a text with no steps scores 0."""
    if how not in AGGREGATORS:
        raise UserError(f"unknown aggregator {how!r}; choose one of: {', '.join(AGGREGATORS)}")
    return AGGREGATORS[how](scores) if scores else 0.0


# --------------------------------------------------------------------------- registry

_KINDS: dict[str, Callable[..., RewardModel]] = {}
"""Loaders by the ``reward_kind`` a model directory records, e.g. ``orm`` or ``critic``: each is
called as ``loader(path, mode, **options)``, ``mode`` the name the model is asked for by (a
GenRM model serves ``genrm`` and ``genrm-cot``)."""


def register_kind(kind: str, loader: Callable[..., RewardModel]) -> None:
    _KINDS[kind] = loader


def kind_loader(kind: str | None) -> Callable[..., RewardModel] | None:
    """The loader of models that record ``kind``; None for a kind no loader reads."""
    return _KINDS.get(kind) if isinstance(kind, str) else None
