"""One long chain of thought with budget forcing (s1, Muennighoff et al. 2025).

The model searches and backtracks by itself in one completion; the budget only shapes its length.
If it stops too early (it gives up without an answer while budget is left) the strategy makes it
think on: the s1 models are sent "Wait"; the nano model, which has no such word, is sent back to
just before its last give-up line and goes on, sampled, from there. At the cap the thinking is
cut and an answer forced: the answer line's opening words are appended and the model completes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ponder.backends.base import spliced
from ponder.search.base import Calls, Search, Strategy, register
from ponder.types import SamplingParams

ANSWER_ROOM = 32
"""Tokens kept for a forced answer line."""


@register
@dataclass
class Think(Strategy):
    """A long chain of thought: extended with a "wait" when it stops early, cut at the cap."""

    name = "think"
    waits: int = 8
    """Most times the model is made to think on."""
    temperature: float = 0.0
    """Of the first pass; every continuation after a wait is sampled at 1."""

    def search(self, s: Search) -> Calls:
        from ponder.tasks.base import ANSWER_PREFIX

        text, waits, finish_reason = "", 0, "stop"
        while True:
            room = s.room(text) - ANSWER_ROOM
            if room < 1:
                finish_reason = "length"
                break
            params = SamplingParams(n=1, temperature=self.temperature if not text else 1.0, max_tokens=room,
                                    seed=s.seed * 1000 + waits)
            [[c]] = yield from s.generate([text], params)
            text += c.text
            if s.task.answer(text) is not None:
                break
            if c.finish_reason == "length":
                finish_reason = "length"
                break
            if waits == self.waits:
                break
            waits += 1  # stopped without an answer: wait, think on from before the give-up
            lines = text.rstrip("\n").split("\n")
            text = "".join(f"{l}\n" for l in lines[:-1])
            s.trace.append(f"wait {waits}: gave up at '{lines[-1]}'; thinking on from the line before")
        if s.task.answer(text) is None and s.left >= 1:  # the cap: force an answer
            forced = text.rstrip("\n") + f"\n{ANSWER_PREFIX}"
            room = min(ANSWER_ROOM, s.room(forced))
            if room >= 1:
                [[c]] = yield from s.generate([forced], SamplingParams(n=1, temperature=0.0, max_tokens=room))
                text = spliced(s.policy, forced, c.text)  # "answer: (25 - 3) * 3", as one call writes it
                s.trace.append("thinking cut at the budget; answer forced")
        note = f"{waits} wait{'s' * (waits != 1)}." if waits else ""
        return s.result(s.candidate(text), [s.candidate(text)], finish_reason, note=note)
