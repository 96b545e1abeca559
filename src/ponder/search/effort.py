"""``reasoning_effort``: none, minimal, low, medium, high, xhigh and auto, each a compute policy.

The six levels OpenAI's API names are fixed policies: a strategy, its reward model and a budget in
thinking tokens per problem. ``none`` and ``minimal`` answer with the least thinking the task
allows: one greedy line in the shortest style the policy was trained to write (``direct`` steps on
Countdown and Game of 24, about 45 tokens; a policy or task without it writes its usual chain). ``auto`` is compute-optimal allocation (Snell et al. 2024): it spends
a little to estimate how hard each problem is, then as much as that problem needs.

``auto`` reads difficulty from agreement: it draws ``probe`` samples; when ``agree`` of them reach
one answer the problem is easy and that answer stands. Otherwise the verifier scores them; a
confident best (score at least ``confident``) stands; failing that, the problem is hard and
sampling goes on to ``n`` texts, the verifier's best taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from ponder.errors import UserError
from ponder.search.base import Calls, Search, register
from ponder.search.vote import _Parallel, best_scored, key, tally


@dataclass(frozen=True)
class Effort:
    strategy: str
    reward: str | None
    budget: int | None
    options: tuple[tuple[str, object], ...] = ()
    style: str | None = None
    """The trace style the policy must have been trained to write (``trace_styles``) for this
    level to run: a tree search over ``direct`` steps; a policy without it gets ``EFFORTS``'."""


LEAST = Effort("greedy", None, None, (("style", "direct"),))
"""``none`` and ``minimal``: one greedy line, in ``direct`` steps where the policy writes them
(``Search.ask_for`` keeps the task's usual chain otherwise)."""

EFFORTS = {
    "none": LEAST,
    "minimal": LEAST,
    "low": Effort("greedy", None, None),
    "medium": Effort("majority", None, None, (("n", 8),)),
    "high": Effort("best-of-n", "genrm-cot", None, (("n", 16),)),
    "xhigh": Effort("best-of-n", "genrm-cot", None, (("n", 64),)),
    "auto": Effort("auto", "genrm-cot", None),
}
"""What each ``reasoning_effort`` runs on a task with no level of its own in ``TASK_EFFORTS``."""

STEP_SEARCH = (("expand", 2), ("batch", 1), ("widen", 0.7))
"""Best-first over single steps as chosen on Game of 24's ``val`` split (docs/results.md)."""

TASK_EFFORTS: dict[str, dict[str, Effort]] = {
    "game24": {"high": Effort("best-first", "prm", 1500, STEP_SEARCH, style="direct"),
               "xhigh": Effort("best-first", "prm", 6000, STEP_SEARCH, style="direct")},
    "countdown": {"high": Effort("best-first", "prm", 16000, STEP_SEARCH, style="direct"),
                  "xhigh": Effort("best-first", "prm", 64000, STEP_SEARCH, style="direct")},
}
"""The levels a task runs otherwise, by task name: where another strategy was measured to do
better on that task's validation split within the level's budget (docs/results.md). ``xhigh`` is
``high`` with four times its budget (or samples): more of what was measured, not measured itself."""


def effort(name: str, task: str | None = None, styles: tuple[str, ...] = ()) -> Effort:
    """What the level ``name`` runs on the task named ``task`` (None: on any task) for a policy
    trained to write ``styles`` (``trace_styles``)."""
    if name not in EFFORTS:
        raise UserError(f"unknown effort {name!r}; choose one of: {', '.join(EFFORTS)}")
    level = TASK_EFFORTS.get(task or "", {}).get(name)
    return level if level is not None and (level.style is None or level.style in styles) else EFFORTS[name]


@register
@dataclass
class Auto(_Parallel):
    """Compute-optimal: a few samples to judge difficulty, then only what the problem needs."""

    name = "auto"
    reward_kind = "outcome"
    probe: int = 4
    agree: int = 3
    confident: float = 0.9
    n: int | None = 16

    def search(self, s: Search) -> Calls:
        first = _Parallel(n=self.probe, temperature=self.temperature, style=self.style)
        candidates = yield from first.sample(s)
        votes = tally(candidates)
        if votes and votes.most_common(1)[0][1] >= self.agree:
            winner = votes.most_common(1)[0][0]
            best = next(c for c in candidates if key(c.answer) == winner)
            s.trace.append(f"easy: {int(votes.most_common(1)[0][1])} of {len(candidates)} samples agree")
            return s.result(best, candidates, note=f"Easy: {int(votes.most_common(1)[0][1])} of {len(candidates)} "
                                                   f"samples agree.")
        texts = [c.text for c in candidates]
        scores = s.score_within(texts)
        if not texts or scores[0] is None:
            best = candidates[0] if candidates else None
            return s.result(best, candidates, note="The budget ran out before the verifier could judge.")
        scored = [s.candidate(t, sc) for t, sc in zip(texts, scores)]
        best = best_scored(scored)
        if best is not None and best.answer is not None and (best.score or 0.0) >= self.confident:
            s.trace.append(f"medium: the verifier is confident ({best.score:.2f}) after {len(scored)} samples")
            return s.result(best, scored, note=f"Medium: verified at {best.score:.2f} after {len(scored)} samples.")
        more = _Parallel(n=max(0, (self.n or 16) - len(scored)) or None, temperature=self.temperature, scored=True,
                         style=self.style)
        extra = []
        if more.n and s.left > 0:
            extra = yield from more.sample(s)
        scored += extra
        best = best_scored(scored)
        s.trace.append(f"hard: {len(scored)} samples, best score {(best.score or 0.0) if best else 0.0:.2f}")
        return s.result(best, scored, note=f"Hard: best of {len(scored)} samples by {s.reward.name}.")
