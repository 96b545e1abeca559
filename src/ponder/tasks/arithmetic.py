"""Multi-digit addition and multiplication, worked column by column.

Numbers are written one digit per token (``4 8 2 1``), so the model never needs a token for a
large number; the number of digits is the difficulty knob. The chain of thought is the school
method, one column per line::

    arith 4 8 2 1 * 3 7
    4 8 2 1 * 7 :
    1 * 7 + 0 = 7 | 7 carry 0
    ...
    = 3 3 7 4 7
    ...
    answer: 1 7 8 3 7 7
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from ponder.errors import UserError
from ponder.tasks.base import ANSWER_PREFIX, StepCheck, Task, final_answer, shorten, typed_numbers, whole_number
from ponder.types import Problem
from ponder.utils import stable_hash


def digits(n: int) -> str:
    return " ".join(str(n))


def _add_lines(a: int, b: int) -> list[str]:
    da, db = str(a)[::-1], str(b)[::-1]
    carry, lines = 0, []
    for k in range(max(len(da), len(db))):
        x = int(da[k]) if k < len(da) else 0
        y = int(db[k]) if k < len(db) else 0
        s = x + y + carry
        lines.append(f"{x} + {y} + {carry} = {s} | {s % 10} carry {s // 10}")
        carry = s // 10
    return lines


def _mul_digit_lines(a: int, d: int) -> list[str]:
    carry, lines = 0, []
    for ch in str(a)[::-1]:
        s = int(ch) * d + carry
        lines.append(f"{ch} * {d} + {carry} = {s} | {s % 10} carry {s // 10}")
        carry = s // 10
    return lines


def worked_solution(a: int, op: str, b: int) -> str:
    if op == "+":
        lines = _add_lines(a, b)
        result = a + b
    else:
        lines, total = [], None
        for j, ch in enumerate(str(b)[::-1]):
            part = a * int(ch) * 10 ** j
            lines.append(f"{digits(a)} * {ch}{' 0' * j} :")
            lines.extend(_mul_digit_lines(a, int(ch)))
            lines.append(f"= {digits(part)}")
            if total is None:
                total = part
            else:
                lines.append(f"{digits(total)} + {digits(part)} :")
                lines.extend(_add_lines(total, part))
                total += part
                lines.append(f"= {digits(total)}")
        result = total
    return "\n".join(lines + [f"{ANSWER_PREFIX} {digits(result)}"]) + "\n"


WORDS = ("arith", ANSWER_PREFIX, "carry")
"""The words arithmetic writes as single tokens: its prompts' first word, the answer marker and
each column's carry."""

_COLUMN = re.compile(r"^\s*(\d)\s*([+*])\s*(\d)\s*\+\s*(\d+)\s*=\s*(\d+)\s*\|\s*(\d)\s*carry\s*(\d+)\s*$")


@dataclass(frozen=True)
class ArithmeticTask(Task):
    """``a + b`` or ``a * b`` with operands of ``max_digits`` digits or fewer."""

    WORDS = WORDS
    TRACE_STYLES = ("cot",)
    checks_steps = True

    name: str = "arith"
    max_digits: int = 3
    ops: tuple[str, ...] = ("+", "*")
    splits: tuple[str, ...] = ("train", "val", "test")

    def problems(self, split: str, n: int, seed: int = 0) -> list[Problem]:
        if split not in self.splits:
            raise UserError(f"unknown split {split!r} for {self.name}; choose one of: {', '.join(self.splits)}")
        rng = random.Random(f"{self.name}-{split}-{seed}")
        out: list[Problem] = []
        while len(out) < n:
            op = rng.choice(self.ops)
            a, b = (rng.randint(0, 10 ** rng.randint(1, self.max_digits) - 1) for _ in range(2))
            bucket = stable_hash(f"{a}{op}{b}") % 100
            if (split == "train") != (bucket < 90) or (split == "val" and bucket >= 95) or (split == "test" and bucket < 95):
                continue
            out.append(self._problem(a, op, b, f"{self.name}-{split}-{seed}-{len(out)}"))
        return out

    def _problem(self, a: int, op: str, b: int, id: str) -> Problem:
        return Problem(id=id, task=self.name, numbers=(a, b), target=a + b if op == "+" else a * b, question=f"{a} {op} {b}")

    def make_problem(self, numbers, target=None, id: str = "user", op: str = "+") -> Problem:
        if isinstance(numbers, str):
            m = re.fullmatch(r"\s*(\d+)\s*([+*])\s*(\d+)\s*", numbers)
            if not m:
                raise UserError(f"arith takes 'A + B' or 'A * B', got {numbers!r}")
            numbers, op = [m[1], m[3]], m[2]
        if len(numbers) != 2:
            raise UserError(f"arith takes two whole non-negative numbers, got {shorten(repr(numbers))}")
        a, b = (whole_number(x, "arith") for x in numbers)
        return self._problem(a, op, b, id)

    def parse_user_input(self, words: list[str], numbers: list[str] | None = None, target=None,
                         cli: bool = True) -> Problem:
        """``"482 * 37"`` as typed (a target is not asked for: it is the result)."""
        return self.make_problem(" ".join(typed_numbers(words, numbers)))

    def prompt(self, problem: Problem, style: str = "") -> str:
        a, b = problem.numbers
        op = problem.question.split()[1]
        return f"{self.name.split('-')[0]} {digits(a)} {op} {digits(b)}\n"

    def steps(self, text: str) -> list[str]:
        return [line for line in text.split("\n") if line.strip() and not line.strip().startswith(ANSWER_PREFIX)]

    def answer(self, text: str) -> str | None:
        ans = final_answer(text)
        return ans.replace(" ", "") if ans else None

    def check(self, problem: Problem, answer: str | None) -> bool:
        return bool(answer) and answer.strip().replace(" ", "").isdigit() and int(answer.replace(" ", "")) == problem.target

    def summary(self, problem: Problem, text: str) -> str:
        columns = sum(bool(_COLUMN.match(line)) for line in self.steps(text))
        return f"Worked {columns} column{'s' * (columns != 1)} of {problem.question}."

    def trace(self, problem: Problem, style: str = "cot", rng: random.Random | None = None) -> list[tuple[str, bool]]:
        a, b = problem.numbers
        return [(worked_solution(a, problem.question.split()[1], b), True)]

    def check_steps(self, problem: Problem, text: str) -> list[StepCheck]:
        """Column lines are checked for their arithmetic; other lines are headers and sums."""
        out = []
        for line in self.steps(text):
            m = _COLUMN.match(line)
            if not m:
                out.append(StepCheck(line, True, None))
                continue
            x, op, y, c, s, d, c2 = (m[1], m[2], m[3], m[4], m[5], m[6], m[7])
            true = (int(x) + int(y) if op == "+" else int(x) * int(y)) + int(c)
            ok = true == int(s) and int(d) == true % 10 and int(c2) == true // 10
            out.append(StepCheck(line, ok, None, "" if ok else "wrong column arithmetic"))
        return out
