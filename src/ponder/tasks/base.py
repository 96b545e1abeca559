"""The task protocol, the per-line step label, the task registry and problem files.

A task generates problems, writes the prompt the model sees, splits a completion into steps,
extracts its answer and verifies it by rule. Rule verifiers are the ground truth for every
training reward and every accuracy figure in ponder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

from ponder.errors import UserError
from ponder.types import Problem

ANSWER_PREFIX = "answer:"


class Task:
    """What a task is: the protocol every task answers, and its optional capabilities, each
    declared here with its default, so that callers ask a task what it can do rather than probe
    it for methods. A task subclasses it and overrides what it has."""

    name: str
    splits: tuple[str, ...]

    # -- declared capabilities: the defaults describe a task that has none of them

    WORDS: ClassVar[tuple[str, ...]] = ()
    """Words and symbols its prompts and traces need as single tokens of the nano tokenizer
    (gathered in ``ponder.tasks.WORDS``); () for a task the nano model never reads."""
    TRACE_STYLES: ClassVar[tuple[str, ...]] = ()
    """The styles ``trace`` writes, the first its default; () for a task without a solver."""
    stop: str = ""
    """Where a completion is over, and every policy call stops (math: where a base model starts a
    question of its own); "" when it runs to its end."""
    step_separator: str = "\n"
    """What separates two reasoning steps: a step-level search samples one step up to it."""
    free_text: ClassVar[bool] = False
    """Problems are questions in words with free-text answers (math): the user types the question,
    and a problem file's rows are read whole by the task's ``problem_from_row(row, id)``. Otherwise
    problems are numbers and a target (``{"id": ..., "numbers": [...], "target": ...}``)."""
    checks_steps: ClassVar[bool] = False
    """``check_steps`` labels every step by rule (trainers penalise or drop invalid steps)."""
    exact_outcomes: ClassVar[bool] = False
    """``prefix_outcomes`` gives each step's exact outcome (the oracle's per-step scores)."""
    writes_search: ClassVar[bool] = False
    """The solver writes a whole search out: ``search_trace`` and ``full_search``."""
    lists_steps: ClassVar[bool] = False
    """``next_steps`` lists every legal next line of a direct trace (what a tree search may add
    where the policy's own proposals fall short, as a game's rules list its moves)."""
    rule_judged: ClassVar[bool] = False
    """``ponder.tasks.countdown.judge`` writes rule rationales and critiques of its solutions (the training
    targets of the generative judges and the rule critic)."""

    # -- the protocol

    def problems(self, split: str, n: int, seed: int = 0) -> list[Problem]:
        """``n`` problems of ``split``; the same (split, n, seed) always gives the same list."""
        raise NotImplementedError

    def with_options(self, options: dict) -> "Task":
        """This task with ``--set task.OPTION=VALUE`` options applied: by default its dataclass
        fields but its name; an unknown option or a refused value is a ``UserError``."""
        from dataclasses import fields, is_dataclass, replace

        known = {f.name for f in fields(self)} - {"name"} if is_dataclass(self) else set()
        for key in options:
            if key not in known:
                raise UserError(f"--set task.{key}: task {self.name} has no such option"
                                + (f"; it has: {', '.join(sorted(known))}" if known else ""))
        try:
            return replace(self, **options)
        except (TypeError, ValueError) as e:
            raise UserError(f"--set task.*: {e}") from None

    def make_problem(self, numbers: list, target=None, id: str = "user") -> Problem:
        """A problem from user input, validated: raises ``UserError`` with a one-line reason."""
        raise NotImplementedError

    def parse_user_input(self, words: list[str], numbers: list[str] | None = None, target=None,
                         cli: bool = True) -> Problem:
        """A problem from what a user typed (see ``parse_problem``). By default numbers and a
        target: ``"25 3 7 10 -> 66"``, or the numbers and an explicit ``target``."""
        raw, target = numbers_and_target(words, numbers, target, cli)
        return self.make_problem(raw, target)

    def prompt(self, problem: Problem, style: str = "") -> str:
        """The text the model continues, asking for a trace in ``style`` (one of ``TRACE_STYLES``;
        "" for the default). It ends with a newline."""
        raise NotImplementedError

    def steps(self, text: str) -> list[str]:
        """The reasoning steps of a completion, one string each."""
        raise NotImplementedError

    def answer(self, text: str) -> str | None:
        """The final answer written in a completion, or None."""
        raise NotImplementedError

    def final_answer(self, text: str) -> str | None:
        """The answer a completion states, which ends a line of reasoning in a step-level search:
        by default its answer (math: only a box or a stated answer, not any last number)."""
        return self.answer(text)

    def check(self, problem: Problem, answer: str | None) -> bool:
        """Whether an answer is correct, decided by rule."""
        raise NotImplementedError

    join_mark: ClassVar[str | None] = None
    """Where a thread of the ``parallel`` strategy waits for the threads it spawned (Countdown:
    ``<``); None: the task writes no threads."""

    def spawned(self, problem: Problem, text: str) -> list[tuple[str, Problem]]:
        """(spawn, sub-problem) for each sub-problem a thread of ``problem`` handed out since its last
        join mark: what its spawn line said, and the child thread's problem."""
        return []

    def joined(self, spawn: str, sub: Problem, text: str) -> str:
        """A thread's result, one line, as its parent reads it: from its spawn and what the thread of
        ``sub`` wrote."""
        return f"{spawn} {self.answer(text) or ''}".strip()

    def copied(self, results: str) -> str | None:
        """What a thread writes after a join whose ``results`` (the lines ``joined`` wrote) include a
        path found: that path, as it was trained to copy it out before it answers; None when no
        result is a path (the thread goes on searching) or the task copies none."""
        return None

    def thread_outcome(self, problem: Problem, text: str) -> float | None:
        """A thread's own result by rule, for training: 1.0 when what the thread of ``problem`` (a
        sub-problem handed out) reports to its parent is right (a right answer; none where there is
        none), else 0.0; None where the task cannot say."""
        return None

    def mark_lines(self, problem: Problem, text: str) -> list[str | None]:
        """One mark per line of a completion, for the explorer: ``path`` (a step of the solution),
        ``dead`` (a dead end), ``backtrack`` (the search returns to an earlier state), ``answer``,
        or None; a task that cannot read its lines marks none."""
        return [None] * len(text.split("\n"))

    def no_solution(self, problem: Problem) -> str | None:
        """Why ``problem`` has no correct answer, where the task's solver proves it has none (a
        sentence for the user); None when it has one or the task cannot tell."""
        return None

    def verify(self, problem: Problem, text: str) -> float:
        """1.0 when the completion's answer is correct, else 0.0."""
        return float(self.check(problem, self.answer(text)))

    def summary(self, problem: Problem, text: str) -> str:
        """A short account of the reasoning in a completion, shown instead of the reasoning."""
        raise NotImplementedError

    def trace(self, problem: Problem, style: str = "", rng=None) -> list[tuple[str, bool]]:
        """A training trace from the task's solver, as (text, trained) segments (``TRACE_STYLES``)."""
        raise UserError(f"the {self.name} task has no solver, so no solver traces to train on")

    def example(self, problem: Problem, style: str, rng) -> tuple[str, list[tuple[str, bool]]]:
        """One training example drawn from ``problem``: (prompt, trace segments). By default the
        problem's own prompt and trace in ``style``; a task may make another problem of it (a
        parallel search's thread: a state its root hands out)."""
        return self.prompt(problem, style), self.trace(problem, style, rng)

    # -- the optional capabilities (call them where the flag above says the task has them)

    def check_steps(self, problem: Problem, text: str) -> list[StepCheck]:
        """One rule label per step of ``text`` (``checks_steps``)."""
        raise NotImplementedError(f"{self.name} has no rule step checker (checks_steps is False)")

    def prefix_outcomes(self, problem: Problem, text: str, room: int | None = None, count=None) -> list[bool]:
        """Per step: would a faultless search from the end of that step still answer correctly
        (``exact_outcomes``)."""
        raise NotImplementedError(f"{self.name} knows no exact step outcomes (exact_outcomes is False)")

    def next_steps(self, problem: Problem, text: str) -> list[str] | None:
        """Every legal next line after ``text``, a direct trace's whole lines (``lists_steps``);
        None when ``text`` is not one."""
        raise NotImplementedError(f"{self.name} lists no legal steps (lists_steps is False)")

    def legal(self, problem: Problem, text: str) -> bool | None:
        """Whether every step of a direct trace is a move the rules allow (``lists_steps``; None:
        the task cannot tell): a tree search drops the proposals that are not, as a game engine
        never plays an illegal move. Whether the moves lead to the goal is not asked."""
        return None

    def written_answer(self, problem: Problem, text: str) -> str | None:
        """The answer line a direct trace's steps spell out, transcribed with nothing checked, when
        they leave one number (``lists_steps``; None otherwise): a search need not trust the
        policy to copy its own steps into an expression."""
        return None

    def slip(self, problem: Problem, line: str, rng) -> str | None:
        """One of ``next_steps``' lines rewritten the way a policy gets one wrong (``lists_steps``;
        None: no slip for this line): what rule-written walks show a value model of wrong steps."""
        return None

    def search_trace(self, problem: Problem, rng, **options) -> list[tuple[str, bool]]:
        """A search written out by the solver, as (text, trained) segments (``writes_search``)."""
        raise NotImplementedError(f"{self.name} writes no search traces (writes_search is False)")

    def full_search(self, problem: Problem) -> str:
        """The whole search as greedy decoding writes it (``writes_search``)."""
        raise NotImplementedError(f"{self.name} writes no search traces (writes_search is False)")


def final_answer(text: str) -> str | None:
    """The text after the last ``answer:`` marker, up to the end of its line."""
    at = text.rfind(ANSWER_PREFIX)
    if at < 0:
        return None
    line = text[at + len(ANSWER_PREFIX):].split("\n", 1)[0].strip()
    return line or None


@dataclass(frozen=True)
class StepCheck:
    """Exact labels for one line: is the arithmetic valid on numbers available, and can the
    target still be reached afterwards. ``solvable`` is None for lines that are not steps."""

    line: str
    valid: bool
    solvable: bool | None
    reason: str = ""


_REGISTRY: dict[str, Callable[[], Task]] = {}


def register(name: str, factory: Callable[[], Task]) -> None:
    _REGISTRY[name] = factory


def task_names() -> list[str]:
    return sorted(_REGISTRY)


def get_task(name: str) -> Task:
    """The task ``name``: a registered one, or ``rg:NAME`` for reasoning-gym's dataset NAME."""
    if name.startswith("rg:"):
        from ponder.tasks.rg import ReasoningGymTask

        return ReasoningGymTask.named(name)
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise UserError(f"unknown task {name!r}; choose one of: {', '.join(task_names())}, "
                        "or rg:NAME for a reasoning-gym dataset") from None


def question_text(words, task: str) -> str:
    """A free-text task's question from what was typed (the text, or its words as a list), stripped;
    ``UserError`` naming ``task`` when there is none."""
    question = " ".join(map(str, words)) if isinstance(words, (list, tuple)) else words
    if not isinstance(question, str) or not question.strip():
        raise UserError(f"{task} takes a question as text, got {words!r}")
    return question.strip()


def parse_problem(task: Task, words: list[str], numbers: list[str] | None = None, target=None,
                  cli: bool = True) -> Problem:
    """A problem from what a user typed: ``words`` (``"25 3 7 10 -> 66"``, ``"4 7 8 8"``, ``"482 * 37"``,
    or a question in words for free-text tasks), extra ``numbers`` and an explicit ``target`` (for
    free-text tasks, the reference answer). Each task reads its own input (``Task.parse_user_input``).
    Errors hint at the command line's flags with ``cli``, else at the text alone (the server's chat
    messages). Raises ``UserError`` with a one-line reason."""
    return task.parse_user_input(words, numbers, target, cli)


MAX_DIGITS = 12
"""Most digits of a number in a problem: more than any task takes, far less than a denial of service."""


def whole_number(x, task: str) -> int:
    """``x`` (an int, or text of the digits 0-9) as a whole non-negative number of at most
    ``MAX_DIGITS`` digits; ``UserError`` naming ``task`` otherwise."""
    text = str(x).strip() if isinstance(x, (int, str)) and not isinstance(x, bool) else ""
    if not (text.isascii() and text.isdigit()):
        raise UserError(f"{task} takes whole non-negative numbers, got {shorten(repr(x))}")
    if len(text) > MAX_DIGITS:
        raise UserError(f"{task} takes numbers of at most {MAX_DIGITS} digits, got one of {len(text)}")
    return int(text)


def shorten(text: str, most: int = 60) -> str:
    """``text``, cut to ``most`` characters with an ellipsis (for quoting input in a message)."""
    return text if len(text) <= most else text[:most - 1] + "…"


def typed_numbers(words: list[str], numbers: list[str] | None = None) -> list[str]:
    """What a user typed, split at spaces and commas, then the extra ``numbers``."""
    return " ".join(words).replace(",", " ").split() + list(numbers or [])


def numbers_and_target(words: list[str], numbers: list[str] | None = None, target=None,
                       cli: bool = True) -> tuple[list[str], object]:
    """The numbers a user typed and the target, which an explicit ``target`` gives or else what
    follows ``->`` (``"25 3 7 10 -> 66"``); ``UserError`` when no number is given."""
    raw = typed_numbers(words, numbers)
    if "->" in raw:  # "25 3 7 10 -> 66"
        at = raw.index("->")
        if len(raw) > at + 2 or raw.count("->") > 1:
            raise UserError(f'write one target after "->", e.g. "25 3 7 10 -> 66"; got {shorten(" ".join(raw))}')
        if target is None and at + 1 < len(raw):
            target = raw[at + 1]
        raw = raw[:at]
    if not raw:
        raise UserError("give the numbers, e.g. ponder solve --numbers 25 3 7 10 --target 66" if cli
                        else 'give the numbers, e.g. "25 3 7 10 -> 66"')
    return raw, target


def load_problems(path: str | Path, task: Task) -> list[Problem]:
    """Problems from a JSONL file, one JSON object per line.

    A free-text task (``Task.free_text``: math) reads each object whole (``problem_from_row(row,
    id)``); any other reads ``{"id": ..., "numbers": [...], "target": ...}``. Every line is
    validated by the task, and a bad line is reported with its line number.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"problem file not found: {path}")
    problems = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}): a problem file is JSON lines") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            problems.append(_row_problem(task, json.loads(line), lineno))
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
        except RecursionError:
            raise UserError(f"{path}:{lineno}: JSON nested too deeply to be a problem") from None
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
    if task.free_text:
        return task.problem_from_row(row, id)
    if not isinstance(row.get("numbers"), list):
        raise UserError(f'expected an object with "numbers", a list (and "target"), got {shorten(json.dumps(row))}')
    return task.make_problem(row["numbers"], row.get("target"), id)


def save_problems(path: str | Path, problems: list[Problem]) -> None:
    with Path(path).open("w") as f:
        for p in problems:
            f.write(json.dumps(p.to_json()) + "\n")
