"""The task protocol, the task registry and problem files.

A task generates problems, writes the prompt the model sees, splits a completion into steps,
extracts its answer and verifies it by rule. Rule verifiers are the ground truth for every
training reward and every accuracy figure in ponder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from ponder.errors import UserError
from ponder.types import Problem

ANSWER_PREFIX = "answer:"


@runtime_checkable
class Task(Protocol):
    name: str
    splits: tuple[str, ...]

    def problems(self, split: str, n: int, seed: int = 0) -> list[Problem]:
        """``n`` problems of ``split``; the same (split, n, seed) always gives the same list."""

    def make_problem(self, numbers: list, target=None, id: str = "user") -> Problem:
        """A problem from user input, validated: raises ``UserError`` with a one-line reason."""

    def prompt(self, problem: Problem) -> str:
        """The text the model continues. It ends with a newline."""

    def steps(self, text: str) -> list[str]:
        """The reasoning steps of a completion, one string each."""

    def answer(self, text: str) -> str | None:
        """The final answer written in a completion, or None."""

    def check(self, problem: Problem, answer: str | None) -> bool:
        """Whether an answer is correct, decided by rule."""

    def verify(self, problem: Problem, text: str) -> float:
        """1.0 when the completion's answer is correct, else 0.0."""

    def summary(self, problem: Problem, text: str) -> str:
        """A short account of the reasoning in a completion, shown instead of the reasoning."""

    def trace(self, problem: Problem, style: str, rng) -> list[tuple[str, bool]]:
        """A training trace from the task's solver, as (text, trained) segments."""


def final_answer(text: str) -> str | None:
    """The text after the last ``answer:`` marker, up to the end of its line."""
    at = text.rfind(ANSWER_PREFIX)
    if at < 0:
        return None
    line = text[at + len(ANSWER_PREFIX):].split("\n", 1)[0].strip()
    return line or None


_REGISTRY: dict[str, Callable[[], Task]] = {}


def register(name: str, factory: Callable[[], Task]) -> None:
    _REGISTRY[name] = factory


def task_names() -> list[str]:
    return sorted(_REGISTRY)


def get_task(name: str) -> Task:
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise UserError(f"unknown task {name!r}; choose one of: {', '.join(task_names())}") from None


def parse_problem(task: Task, words: list[str], numbers: list[str] | None = None, target=None,
                  cli: bool = True) -> Problem:
    """A problem from what a user typed: ``words`` (``"25 3 7 9 -> 66"``, ``"4 7 8 8"``, ``"482 * 37"``,
    or a question in words for free-text tasks), extra ``numbers`` and an explicit ``target`` (for
    free-text tasks, the reference answer). Errors hint at the command line's flags with ``cli``,
    else at the text alone (the server's chat messages). Raises ``UserError`` with a one-line reason."""
    raw = " ".join(words).replace(",", " ").split() + list(numbers or [])
    if task.name.startswith("arith"):
        return task.make_problem(" ".join(raw))
    if hasattr(task, "problem_from_row"):  # math: a question in words
        question = " ".join(words)
        if not question.strip():
            raise UserError('give the question, e.g. ponder solve "What is 15% of 80?" --task math --target 12'
                            if cli else "give the question in words")
        return task.make_problem(question, target)
    if "->" in raw:  # "25 3 7 9 -> 66"
        at = raw.index("->")
        if target is None and at + 1 < len(raw):
            target = raw[at + 1]
        raw = raw[:at]
    if not raw:
        raise UserError("give the numbers, e.g. ponder solve --numbers 25 3 7 9 --target 66" if cli
                        else 'give the numbers, e.g. "25 3 7 9 -> 66"')
    if target is None and task.targets[0] != task.targets[1]:
        raise UserError(f"{task.name} needs a target: add --target (or use --task game24)" if cli
                        else f'{task.name} needs a target: write it after "->", e.g. "25 3 7 9 -> 66"')
    return task.make_problem(raw, target)


def load_problems(path: str | Path, task: Task) -> list[Problem]:
    """Problems from a JSONL file, one JSON object per line.

    A task that reads its own rows (``problem_from_row(row, id)``, as math does) gets each object
    whole; any other reads ``{"id": ..., "numbers": [...], "target": ...}``. Every line is
    validated by the task, and a bad line is reported with its line number.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"problem file not found: {path}")
    problems = []
    with path.open() as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                problems.append(_row_problem(task, json.loads(line), lineno))
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            except UserError as e:
                raise UserError(f"{path}:{lineno}: {e}") from None
    if not problems:
        raise UserError(f"{path}: no problems in file")
    return problems


def _row_problem(task: Task, row, lineno: int) -> Problem:
    """The problem on one line of a problem file; ``UserError`` (without the place) when it is bad."""
    if not isinstance(row, dict):
        raise UserError("expected a JSON object")
    id = str(row.get("id", lineno))
    read = getattr(task, "problem_from_row", None)
    if read is not None:
        return read(row, id)
    if "numbers" not in row:
        raise UserError('expected an object with "numbers" (and "target")')
    return task.make_problem(row["numbers"], row.get("target"), id)


def save_problems(path: str | Path, problems: list[Problem]) -> None:
    with Path(path).open("w") as f:
        for p in problems:
            f.write(json.dumps(p.to_json()) + "\n")
