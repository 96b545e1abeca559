"""One completion per problem: greedy decoding, or one sample at a temperature.

These are the baselines every other strategy is measured against: no search outside the
model's own chain of thought.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ponder.search.base import Strategy, completion_budget, register, task_of
from ponder.types import Candidate, Problem, SamplingParams, SearchResult, Usage


@dataclass
class _OneCompletion(Strategy):
    temperature: float = 0.0
    top_p: float = 1.0

    def run(self, problems: Sequence[Problem], policy, reward=None, budget: int | None = None, seed: int = 0,
            task=None) -> list[SearchResult]:
        if not problems:
            return []
        tasks = [task_of(p, task) for p in problems]
        prompts = [t.prompt(p) for t, p in zip(tasks, problems)]
        longest = max(policy.count_tokens(p) for p in prompts) + 1
        params = SamplingParams(n=1, temperature=self.temperature, top_p=self.top_p,
                                max_tokens=completion_budget(policy, longest, budget), seed=seed)
        results = []
        for t, p, (c,) in zip(tasks, problems, policy.generate(prompts, params)):
            answer = t.answer(c.text)
            results.append(SearchResult(
                answer=answer, text=c.text, reasoning_summary=t.summary(p, c.text),
                usage=Usage().add_completions([c]), finish_reason=c.finish_reason,
                candidates=(Candidate(c.text, answer),)))
        return results


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
