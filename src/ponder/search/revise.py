"""The actor-critic loop: the actor answers, the text critic critiques, the actor revises.

The actor (the policy) writes a chain of thought. The critic (``critic``, a ``JudgeReward`` that
writes critiques) names the first line it finds wrong and says why, then gives a verdict. On
``Yes`` the loop stops: the critic decides when the answer is good enough, so easy problems take
one round and hard ones several. On ``No`` the actor revises given the critique: the nano policy
was never taught to read critiques, so it revises the way the critique points, keeping the lines
before the one named and writing the rest anew (a wrong answer line after a sound search: only
the answer line; no line named: the whole text).
"""

from __future__ import annotations

from dataclasses import dataclass

from ponder.search.base import Calls, Search, Strategy, register
from ponder.types import Candidate, SamplingParams


def quote(line: str) -> str:
    from ponder.tasks.judge import _quote

    return _quote(line)


def keep_before(s: Search, text: str, critique: str) -> str:
    """The lines of ``text`` the critique leaves standing: those before the line it names."""
    named = critique.split("\n", 1)[0].strip()
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.strip() and quote(line) == named:
            return "".join(f"{l}\n" for l in lines[:i])
    if s.task.answer(text) is not None:  # the search stands, the answer line does not
        at = [i for i, line in enumerate(lines) if s.task.answer(line) is not None]
        return "".join(f"{l}\n" for l in lines[:at[-1]]) if at else ""
    return ""


@register
@dataclass
class Revise(Strategy):
    """Answer, critique, revise, until the critic says Yes, ``rounds`` run out, or the budget does."""

    name = "revise"
    reward_kind = "critic"
    rounds: int | None = None
    """Most answers written; None: as many as the budget pays for (8 without a budget)."""
    temperature: float = 1.0
    """Of the revisions (the first answer is greedy)."""

    def search(self, s: Search) -> Calls:
        if not hasattr(s.reward, "critiques"):
            from ponder.errors import UserError

            raise UserError(f"strategy revise needs the text critic (--reward critic), not {s.reward.name!r}")
        rounds = self.rounds or (8 if s.budget is None else 10**6)
        kept, candidates, best = "", [], None
        for r in range(rounds):
            room = s.room(kept)
            if room < 1 or (candidates and s.left < s.spent / len(candidates)):
                break
            params = SamplingParams(n=1, temperature=0.0 if r == 0 else self.temperature, max_tokens=room,
                                    seed=s.seed * 1000 + r)
            [[c]] = yield from s.generate([kept], params)
            text = kept + c.text
            if s.affordable([text]) < 1:  # no budget left to critique it: it stands as it is
                candidates.append(s.candidate(text))
                best = best if best is not None and best.answer is not None else candidates[-1]
                s.trace.append(f"round {r + 1}: answer {candidates[-1].answer or '-'}; no budget left for a critique")
                break
            [j] = s.critiques([text])
            cand = Candidate(text, s.task.answer(text), j.score)
            candidates.append(cand)
            first = j.reasoning.split("\n")
            s.trace.append(f"round {r + 1}: answer {cand.answer or '-'}; critic: {' / '.join(first)} "
                           f"(verdict {'Yes' if j.verdict else 'No'}, {j.score:.2f})")
            if best is None or (cand.answer is not None, cand.score) > (best.answer is not None, best.score):
                best = cand
            if j.verdict and cand.answer is not None:
                break
            kept = keep_before(s, text, j.reasoning)
        note = f"{len(candidates)} round{'s' * (len(candidates) != 1)} of answer and critique."
        return s.result(best, candidates, note=note)
