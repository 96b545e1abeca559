"""The oracle: the task's rule verifier behind the ``RewardModel`` interface.

It is ground truth, not a learned result: it labels training data and gives the upper bound
(pass@n) that learned reward models are measured against. A step's score is its exact prefix
outcome when the task can compute one (Countdown: would a faultless search still succeed from
here), else the final verdict. A finished text gets one more score, the rule verifier's verdict
(so ``last`` is the verdict); with ``partial=True`` (texts a search is still growing) only a text
that wrote its answer does. With ``room`` (the tokens a completion may hold), a step's score also
asks whether the faultless search still fits: a trace that wastes its context (a search that
loses its place and starts over) scores 0 from the step where finishing became impossible.
"""

from __future__ import annotations

from typing import Sequence

from ponder.rewards.base import RewardModel
from ponder.tasks import get_task
from ponder.types import Problem, Usage


class OracleReward(RewardModel):
    name = "oracle"
    kind = "process"

    def __init__(self, task=None, partial: bool = False, room: int | None = None):
        self.task = task
        self.partial = partial
        self.room = room
        self.usage = Usage()  # rule checks read no tokens

    def score(self, problem: Problem, texts: Sequence[str]) -> list[list[float]]:
        task = self.task or get_task(problem.task)
        out = []
        for text in texts:
            verdict = task.verify(problem, text)
            steps = task.steps(text)
            scores = ([float(v) for v in task.prefix_outcomes(problem, text, room=self.room)] if task.exact_outcomes
                      else [verdict] * len(steps))
            if not self.partial or task.answer(text) is not None:
                scores.append(verdict)
            out.append(scores or [verdict])
        return out
