"""Puzzles as people type them, read into each task's own notation.

A chat client sends what its user wrote: "Use 4 9 10 13 and + - * / to make 24.", "Make 66 from
25, 3, 7 and 10", "Game of 24: 4 7 8 8", "What is 482 * 37?". ``read_statement`` finds in such a
sentence the task it names (if any) and the problem in the notation the tasks' ``parse_user_input``
read (``"25 3 7 10 -> 66"``, ``"4 7 8 8"``, ``"482 * 37"``). Text with no letters is left as typed.

    >>> read_statement("Make 66 from 25, 3, 7 and 10")
    Statement(task=None, words='25 3 7 10 -> 66')
    >>> read_statement("Game of 24: 4 7 8 8")
    Statement(task='game24', words='4 7 8 8')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FORMS = ('"25 3 7 10 -> 66"', '"Use 25 3 7 10 to make 66"', '"Make 66 from 25, 3, 7 and 10"', '"Game of 24: 4 7 8 8"',
         '"482 * 37"', '"What is 482 * 37?"')
"""Examples of every form ``read_statement`` reads, for error messages."""

_GAME24 = re.compile(r"\b(?:game\s+of\s+24|24\s+game|game\s*24|24\s+puzzle)\b", re.I)
_COUNTDOWN = re.compile(r"\bcountdown\b", re.I)
_TARGET = re.compile(r"(?:\b(?:make|makes|making|get|gets|getting|reach|reaches|reaching|equal|equals|equalling|"
                     r"equaling|total|totals|totalling|target(?:\s+is)?|result(?:\s+is)?)\b|=|->)\s*:?\s*(-?\d+)", re.I)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_SUM = re.compile(r"(\d+)\s*([-+*x×/])\s*(\d+)")


@dataclass(frozen=True)
class Statement:
    """What a typed puzzle says: the task it names and the problem in the tasks' notation."""

    task: str | None
    """The task the words name (``game24``, ``countdown``, ``arith``); None: they name none."""
    words: str
    """The problem as the tasks read it: ``"25 3 7 10 -> 66"``, ``"4 7 8 8"``, ``"482 * 37"``."""


def read_statement(text: str) -> Statement:
    """The task and problem in ``text``; text with no letters (``"25 3 7 10 -> 66"``) is kept as it is."""
    if not re.search(r"[A-Za-z]", text):
        return Statement(None, text.strip())
    task = "game24" if _GAME24.search(text) else "countdown" if _COUNTDOWN.search(text) else None
    rest = _GAME24.sub(" ", text)
    target = _TARGET.search(rest)
    if target is None and task is None:
        sums = _SUM.findall(rest)
        if len(sums) == 1 and len(_NUMBER.findall(rest)) == 2:  # "What is 482 * 37?"
            a, op, b = sums[0]
            return Statement("arith", f"{a} {'*' if op in 'x×' else op} {b}")
    if target is not None:
        rest = rest[:target.start()] + " " + rest[target.end():]
    numbers = _NUMBER.findall(rest)
    words = " ".join(numbers) + (f" -> {target.group(1)}" if target is not None else "")
    return Statement(task, words.strip())


def statement(problem) -> str:
    """A problem in words that ``read_statement`` reads back to it: "Make 66 from 25, 3, 7 and 10",
    "Game of 24: 4 7 8 8", "What is 482 * 37?"; a free-text problem's question as it is."""
    if problem.question and not problem.numbers:
        return problem.question
    if problem.task.startswith("arith"):
        return f"What is {problem.question}?"
    numbers = [str(n) for n in problem.numbers]
    if problem.task == "game24":
        return "Game of 24: " + " ".join(numbers)
    return f"Make {problem.target} from {', '.join(numbers[:-1])} and {numbers[-1]}"


def task_for(statement: Statement, named: str | None = None, default: str = "countdown") -> str:
    """The task a problem belongs to: the one the caller ``named`` (``--task``, a model name such as
    ``nano-v2:game24``), else the one its words name, else ``default``; four numbers with no target
    on a Countdown default are a Game of 24 ("4 7 8 8": Countdown would ask for a target)."""
    if named:
        return named
    if statement.task:
        return statement.task
    if default.startswith("countdown") and "->" not in statement.words and len(statement.words.split()) == 4:
        return "game24"
    return default


__all__ = ["FORMS", "Statement", "read_statement", "statement", "task_for"]
