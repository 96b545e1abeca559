"""One completion per problem: greedy decoding, or one sample at a temperature.

These are the baselines every other strategy is measured against: no search outside the
model's own chain of thought.
"""

from __future__ import annotations

from dataclasses import dataclass

from ponder.search.base import Calls, Search, Strategy, check_style, register
from ponder.types import SamplingParams


@dataclass
class _OneCompletion(Strategy):
    temperature: float = 0.0
    top_p: float = 1.0
    style: str = ""
    """The trace style to ask for (``direct`` or ``search``; "": the task's default), when the
    policy was trained on it."""

    def __post_init__(self) -> None:
        check_style(self.style, default=True)

    def search(self, s: Search) -> Calls:
        s.ask_for(self.style)
        params = SamplingParams(n=1, temperature=self.temperature, top_p=self.top_p,
                                max_tokens=max(1, s.room()), seed=s.seed)
        [[c]] = yield from s.generate([""], params)
        return s.result(s.candidate(c.text), [s.candidate(c.text)], c.finish_reason)


@register
@dataclass
class Greedy(_OneCompletion):
    """The most likely token at every step."""

    name = "greedy"


@register
@dataclass
class Sample(_OneCompletion):
    """One sample at ``temperature`` (nucleus ``top_p``), seeded."""

    name = "sample"
    temperature: float = 1.0
