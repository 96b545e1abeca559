"""Parallel sampling: many independent chains of thought, then one answer chosen from them.

* ``majority``: self-consistency (Wang et al. 2022), the most frequent answer.
* ``weighted-vote``: each answer's votes weighted by the reward model's score of the text.
* ``best-of-n``: the text the reward model scores highest (Cobbe et al. 2021).
* ``adaptive``: majority vote that samples a few at a time and stops once the answers agree,
  so easy problems cost a few samples and hard ones many (adaptive consistency).

Without ``n``, a strategy samples as many texts as its budget pays for, scoring included: it
samples in rounds, each as many texts as still fit whole if every one filled the context, so no
text is cut short but the last, which gets what is left (when a text of the usual length fits).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Generator

from ponder.search.base import Calls, Search, Strategy, check_style, register
from ponder.types import Candidate, SamplingParams

UNBUDGETED_N = 16
"""Samples when neither ``n`` nor a budget is given."""


def key(answer: str | None) -> str | None:
    """Answers that differ only in spacing are one vote."""
    return None if answer is None else "".join(answer.split())


@dataclass
class _Parallel(Strategy):
    n: int | None = None
    """Samples; None: as many as the budget pays for (16 without a budget)."""
    temperature: float = 1.0
    scored: bool = False
    style: str = ""
    """The trace style to ask for (``direct`` or ``search``; "": the task's default), when the
    policy was trained on it."""

    def __post_init__(self) -> None:
        check_style(self.style, default=True)

    @property
    def sampling_share(self) -> float:
        """The part of a budget spent on sampling: half, when scoring the samples needs the rest."""
        return 0.5 if self.scored else 1.0

    def sample(self, s: Search, enough: Callable[[list[Candidate]], bool] = lambda c: False,
               batch: int | None = None) -> Generator:
        """Sample texts until ``n``, the budget, or ``enough`` says stop; then, for a scored
        strategy with more than one text, score as many as the budget still pays for (the rest
        keep no score). Sampling spends at most ``sampling_share`` of the budget."""
        s.ask_for(self.style)
        limit = self.n or (UNBUDGETED_N if s.budget is None else 10**6)
        share = self.sampling_share if s.budget is not None else 1.0
        cap = None if s.budget is None else s.budget * share
        texts: list[str] = []
        rounds = 0
        while len(texts) < limit and not enough([s.candidate(t) for t in texts]):
            left = float("inf") if cap is None else cap - s.usage.completion_tokens
            fill = max(1, s.policy.max_context - s.prompt_tokens)  # the most one text can take
            if left >= fill:  # as many texts as fit whole, each free to fill the context
                k = min(limit - len(texts), batch or limit, int(left // fill) if cap is not None else limit)
                max_tokens = s.room()
            elif texts and left < s.usage.completion_tokens / len(texts):
                break  # not even a text of the usual length would fit
            else:  # one last text, cut to what is left
                k, max_tokens = 1, int(min(left, s.room()))
            if max_tokens < 1:
                break
            params = SamplingParams(n=k, temperature=self.temperature, max_tokens=max_tokens,
                                    seed=s.seed * 1000 + rounds)
            [completions] = yield from s.generate([""], params)
            texts += [c.text for c in completions]
            rounds += 1
        scores = s.score_within(texts) if self.scored and len(texts) > 1 else [None] * len(texts)
        return [s.candidate(t, sc) for t, sc in zip(texts, scores)]


def best_scored(candidates: list[Candidate]) -> Candidate | None:
    """The highest-scoring candidate with an answer (unscored ones count 0), else the first."""
    return max(candidates, key=lambda c: (c.answer is not None, c.score or 0.0), default=None)


def tally(candidates: list[Candidate], weight: Callable[[Candidate], float] = lambda c: 1.0) -> Counter:
    votes: Counter = Counter()
    for c in candidates:
        if c.answer is not None:
            votes[key(c.answer)] += weight(c)
    return votes


def elect(s: Search, candidates: list[Candidate], votes: Counter, how: str) -> object:
    if not votes:
        best = candidates[0] if candidates else None
        return s.result(best, candidates, note=f"No sample of {len(candidates)} reached an answer.")
    winner, count = votes.most_common(1)[0]
    best = next(c for c in candidates if key(c.answer) == winner)
    answered = sum(c.answer is not None for c in candidates)
    s.trace.extend(f"{v:.3g} {'vote' if how == 'votes' else 'weight'}{'s' * (v != 1)}: {a}" for a, v in votes.most_common(8))
    note = (f"{len(candidates)} samples, {answered} with an answer, {len(votes)} different; "
            f"this one won with {count:.3g} {how} of {sum(votes.values()):.3g}.")
    return s.result(best, candidates, note=note)


@register
@dataclass
class Majority(_Parallel):
    """Self-consistency: the answer most samples reach."""

    name = "majority"

    def search(self, s: Search) -> Calls:
        candidates = yield from self.sample(s)
        return elect(s, candidates, tally(candidates), "votes")


@register
@dataclass
class WeightedVote(_Parallel):
    """Votes weighted by the reward model's score of each text."""

    name = "weighted-vote"
    reward_kind = "outcome"
    scored: bool = True

    def search(self, s: Search) -> Calls:
        candidates = yield from self.sample(s)
        return elect(s, candidates, tally(candidates, lambda c: c.score or 0.0), "weight")


@register
@dataclass
class BestOfN(_Parallel):
    """The text the reward model scores highest."""

    name = "best-of-n"
    reward_kind = "outcome"
    scored: bool = True

    def search(self, s: Search) -> Calls:
        candidates = yield from self.sample(s)
        if not candidates:
            return s.result(None, [])
        best = best_scored(candidates)
        ranked = sorted(candidates, key=lambda c: -(c.score or 0.0))
        s.trace.extend(f"score {c.score:.3f}: {c.answer or '(no answer)'}" for c in ranked[:8] if c.score is not None)
        scored = sum(c.score is not None for c in candidates)
        return s.result(best, candidates, note=f"Best of {len(candidates)} samples ({scored} scored by "
                                               f"{s.reward.name}).")


@register
@dataclass
class Adaptive(_Parallel):
    """Majority vote, ``batch`` samples at a time, stopping once ``agree`` of the answers so far
    are one answer (and at least ``batch`` samples were drawn)."""

    name = "adaptive"
    limits = {"agree": (0.01, 2)}
    batch: int = 4
    agree: float = 0.75
    """The share of the answers so far that must be one answer to stop (above 1: never, sample ``n``)."""

    def search(self, s: Search) -> Calls:
        def enough(candidates: list[Candidate]) -> bool:
            votes = tally(candidates)
            return bool(votes) and len(candidates) >= self.batch and \
                votes.most_common(1)[0][1] >= self.agree * len(candidates)

        candidates = yield from self.sample(s, enough, self.batch)
        return elect(s, candidates, tally(candidates), "votes")
