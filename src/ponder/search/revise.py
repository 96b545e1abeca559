"""The actor-critic loop: the actor answers, the text critic critiques, the actor revises.

The actor (the policy) writes a chain of thought. The critic (``critic``, a ``JudgeReward`` that
writes critiques) names the first line it finds wrong and says why, then gives a verdict. On
``Yes`` the loop stops: the critic decides when the answer is good enough, so easy problems take
one round and hard ones several. On ``No`` the actor revises, in one of two styles:

* ``truncate``, for a policy never taught to read critiques (the shipped one): it revises the way
  the critique points, keeping the lines before the one named and writing the rest anew (a wrong
  answer line after a sound search: only the answer line; no line named: the whole text).
* ``rise``, for a policy ``ponder train rise`` taught to revise (RISE, Qu et al. 2024): it reads
  its failed answer (and the critique, if it was trained with one) in the revision format below
  and writes a new answer from the start.

The revision format is defined here, once, for the trainer and this strategy alike. After the
problem's prompt the policy reads::

    …                                   (only when earlier lines are left out)
    <the failed attempt's lines, up to and including its first wrong line>
    ✗ <why, in the critique's words>    (a bare ✗ when no critique is shown)
    <the problem's prompt again>

and writes a new attempt. Every piece tokenizes with the policy's own vocabulary (``✗`` and
``…`` are symbols of it; a critique's words are spelled in letters), and the restated prompt lets
the new attempt begin where every attempt the policy learned to write began. The first wrong line
is the one the critique names, or, without a critique, the first the task's rule checker finds
invalid (trainers only: at test time the critic is the judge). The lines after it are left out,
because they build on the mistake and because the new attempt needs the room: a Countdown-4
search runs to ~800 of the context's 1536 tokens. Of the lines up to it only the last
``shown_tokens`` tokens' worth are shown. Only the latest failed attempt is shown, not the whole
history RISE conditions on: each revision is the same one-step task the trainer taught.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ponder.search.base import Calls, Search, Strategy, register
from ponder.types import Candidate, Problem, SamplingParams

FAILED = "✗"
"""Starts the line that closes a failed attempt (the critique's reason follows, when shown)."""
CUT = "…"
"""Stands for the lines of a failed attempt left out before those shown."""
WORDS = (FAILED, CUT)
"""The format's symbols, single tokens of the nano vocabulary (``ponder.train.vocab``)."""
SHOWN_TOKENS = 256
"""Most tokens of a failed attempt a revision prompt shows, by default (about 15 Countdown lines)."""
STYLES = ("auto", "truncate", "rise")


def quote(line: str) -> str:
    from ponder.tasks.countdown.judge import quote

    return quote(line)


def named_line(text: str, critique: str) -> int | None:
    """Index in ``text.split("\\n")`` of the line a critique's first line quotes, or None."""
    named = critique.split("\n", 1)[0].strip()
    for i, line in enumerate(text.split("\n")):
        if line.strip() and quote(line) == named:
            return i
    return None


def keep_before(s: Search, text: str, critique: str) -> str:
    """The lines of ``text`` the critique leaves standing: those before the line it names."""
    lines = text.split("\n")
    at = named_line(text, critique)
    if at is not None:
        return "".join(f"{l}\n" for l in lines[:at])
    if s.task.answer(text) is not None:  # the search stands, the answer line does not
        at = [i for i, line in enumerate(lines) if s.task.answer(line) is not None]
        return "".join(f"{l}\n" for l in lines[:at[-1]]) if at else ""
    return ""


# --------------------------------------------------------------------------- the revision format (RISE)


def first_wrong_line(task, problem: Problem, text: str, critique: str | None = None) -> int | None:
    """Index in ``text.split("\\n")`` of a failed attempt's first wrong line: the one ``critique``
    names when there is a critique, else the first the task's rule checker finds invalid (where it
    has one); None when no line is found wrong (the answer is, or the attempt ran out of room)."""
    if critique is not None:
        return named_line(text, critique)
    if not task.checks_steps:
        return None
    checks = task.check_steps(problem, text)
    bad = next((k for k, c in enumerate(checks) if not c.valid), None)
    if bad is None:
        return None
    k = 0  # the checker's lines are the text's step lines, in order: find the bad one's place
    for i, line in enumerate(text.split("\n")):
        if k < len(checks) and line == checks[k].line:
            if k == bad:
                return i
            k += 1
    return None


def critique_reason(text: str, critique: str) -> str:
    """What a critique says is wrong, on one line: the lines after the one it quotes (all of it
    when it quotes none)."""
    lines = [l.strip() for l in critique.strip().split("\n") if l.strip()]
    if lines and named_line(text, critique) is not None:
        lines = lines[1:]
    return " ".join(lines)


def revision_context(task, problem: Problem, attempt: str, count: Callable[[str], int], *,
                     critique: str | None = None, show_critique: bool = True, cut_at: int | None = None,
                     shown_tokens: int = SHOWN_TOKENS) -> str:
    """What follows the problem's prompt when the policy revises the failed ``attempt`` (the
    format in the module doc): append it to ``task.prompt(problem)``, and the policy writes a new
    attempt. ``count(line)`` is how many tokens the policy reads in a line. The attempt is cut
    after line ``cut_at`` (an index in ``attempt.split("\\n")``), by default after its first wrong
    line (``first_wrong_line``); ``critique`` says why it failed, shown with ``show_critique``."""
    lines = attempt.split("\n")
    if cut_at is None:
        cut_at = first_wrong_line(task, problem, attempt, critique)
    lines = [l for l in (lines if cut_at is None else lines[:cut_at + 1]) if l.strip()]
    shown, used = [], 0
    for line in reversed(lines):  # the end that fits: a line too long to show ends the showing
        used += count(line) + 1
        if used > shown_tokens:
            break
        shown.insert(0, line)
    why = critique_reason(attempt, critique) if critique and show_critique else ""
    return "".join([f"{CUT}\n" if len(shown) < len(lines) else "", *(f"{l}\n" for l in shown),
                    f"{FAILED} {why}".rstrip() + "\n", task.prompt(problem)])


def revision_style(policy) -> dict | None:
    """How a policy was trained to revise (``ponder train rise`` writes it into the model's
    metadata as ``revision``: format, critique, shown_tokens), or None when it was not."""
    style = policy.meta.get("revision")
    return style if isinstance(style, dict) and style.get("format") == "rise" else None


# --------------------------------------------------------------------------- the strategy


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
    style: str = "auto"
    """How the actor revises (module doc): ``truncate``, ``rise``, or ``auto``: ``rise`` when the
    policy's metadata says ``ponder train rise`` trained it (then with what it was trained on:
    the critique shown or not, how much of the attempt), else ``truncate``. A policy was taught
    to read one format or none, so the choice belongs to the model; the option overrides it."""

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            from ponder.errors import UserError

            raise UserError(f"revise style must be one of {', '.join(STYLES)}, got {self.style!r}")

    def search(self, s: Search) -> Calls:
        if not s.reward.writes_critiques:
            from ponder.errors import UserError

            raise UserError(f"strategy revise needs the text critic (--reward critic), not {s.reward.name!r}")
        trained = revision_style(s.policy)
        rise = self.style == "rise" or (self.style == "auto" and trained is not None)
        trained = trained or {}
        rounds = self.rounds or (8 if s.budget is None else 10**6)
        context, candidates, best = "", [], None  # context: what the next answer continues after the prompt
        for r in range(rounds):
            room = s.room(context)
            if room < 1 or (candidates and s.left < s.spent / len(candidates)):
                break
            params = SamplingParams(n=1, temperature=0.0 if r == 0 else self.temperature, max_tokens=room,
                                    seed=s.seed * 1000 + r)
            [[c]] = yield from s.generate([context], params)
            text = c.text if rise else context + c.text
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
            if rise:
                context = revision_context(s.task, s.problem, text, s.policy.count_tokens, critique=j.reasoning,
                                           show_critique=trained.get("critique", True),
                                           shown_tokens=trained.get("shown_tokens", SHOWN_TOKENS))
            else:
                context = keep_before(s, text, j.reasoning)
        note = f"{len(candidates)} round{'s' * (len(candidates) != 1)} of answer and critique."
        return s.result(best, candidates, note=note)
