"""How Countdown is written and read back: values, states, step lines, answer expressions.

A step is one line, ``state -> aim : a op b = c | numbers left : results``, with the state, aim
and results optional; a give-up is ``state ✗``; an answer is an expression over the given
numbers. Formatting and parsing live here; the arithmetic they rely on is in ``rules``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from ponder.tasks.countdown.rules import Move, Value, apply_written

FRACTION_BAR = "⁄"  # U+2044: a fraction inside a trace, distinct from the division operator
DEAD_END = "✗"
PROMPT_ARROW = "->"
MAKES = ":"  # "| 44 95 : 139 51 ✗": what the two numbers left make
SPAWN = ">"  # "25 3 7 10 -> 66 : 25 + 3 = 28 | 7 10 28 >": this state is handed to a thread of its own
JOIN = "<"  # a line of its own: the thread waits for the threads it spawned, whose results follow
THEN = ";"  # "7 10 22 : 10 - 7 = 3 | 22 3 ; 22 * 3 = 66 | 66": a thread's path, one step after another


def fmt(v: Value) -> str:
    if isinstance(v, Fraction) and v.denominator != 1:
        return f"{v.numerator}{FRACTION_BAR}{v.denominator}"
    return str(int(v))


def fmt_state(state) -> str:
    return " ".join(fmt(v) for v in state)


def step_line(move: Move, left, state=None, results=None, aim=None) -> str:
    """``state -> aim : a op b = c | left : results``; the state, aim and results are optional."""
    head = "" if state is None else fmt_state(state) + ("" if aim is None else f" {PROMPT_ARROW} {fmt(aim)}") + " : "
    tail = "" if results is None else f" {MAKES} {fmt_state(results)}".rstrip()
    return f"{head}{fmt(move.a)} {move.op} {fmt(move.b)} = {fmt(move.c)} | {fmt_state(left)}{tail}"


# Possessive quantifiers (++, *+) never backtrack: a long line of model output that is not a step
# fails in linear time instead of trying every way of splitting its digits.
_VALUE = rf"\d++(?:\s*+{FRACTION_BAR}\s*+\d++)?+"
_STEP = re.compile(
    rf"^\s*+(?:(?P<state>(?:{_VALUE}\s*+)++)(?:{PROMPT_ARROW}\s*+(?P<aim>{_VALUE})\s*+)?:\s*+)?(?P<a>{_VALUE})\s*+(?P<op>[-+*/])\s*+(?P<b>{_VALUE})\s*+=\s*+"
    rf"(?P<c>{_VALUE})\s*+(?:\|\s*+(?P<left>(?:{_VALUE}\s*+)*+))?"
    rf"(?:{MAKES}\s*+(?P<results>(?:{_VALUE}\s*+)*+))?(?P<dead>{DEAD_END})?\s*$"
)
_GIVE_UP = re.compile(rf"^\s*+(?P<state>(?:{_VALUE}\s*+)++){DEAD_END}\s*$")


def parse_value(s: str) -> Value:
    s = s.replace(" ", "")
    if FRACTION_BAR in s:
        p, q = s.split(FRACTION_BAR)
        v = Fraction(int(p), int(q))
        return int(v) if v.denominator == 1 else v
    return int(s)


def parse_values(s: str | None) -> tuple[Value, ...]:
    return tuple(parse_value(m) for m in re.findall(_VALUE, s or ""))


@dataclass(frozen=True)
class ParsedStep:
    """One line of a completion, read back."""

    line: str
    a: Value | None = None
    op: str | None = None
    b: Value | None = None
    c: Value | None = None
    state: tuple[Value, ...] | None = None
    left: tuple[Value, ...] | None = None
    aim: Value | None = None
    """The target the line says its state aims at (``75 81 22 -> 28 : ...``), if it says one."""
    results: tuple[Value, ...] | None = None
    """What the two numbers left make, as listed after ``| 22 6 :`` (None when nothing is listed)."""
    dead: bool = False
    """The line ends in ✗: the model judged the state it reached (or named) a dead end."""

    @property
    def is_step(self) -> bool:
        return self.op is not None


def parse_step(line: str) -> ParsedStep | None:
    """Read a line of a trace back; None when it is neither a step nor a give-up (including model
    output that only looks like one, such as a fraction over zero)."""
    try:
        return _parse_step(line)
    except ZeroDivisionError:
        return None


def _parse_step(line: str) -> ParsedStep | None:
    m = _STEP.match(line)
    if m:
        return ParsedStep(
            line=line,
            a=parse_value(m["a"]),
            op=m["op"],
            b=parse_value(m["b"]),
            c=parse_value(m["c"]),
            state=parse_values(m["state"]) if m["state"] else None,
            aim=parse_value(m["aim"]) if m["aim"] else None,
            left=parse_values(m["left"]) if m["left"] is not None else None,
            results=parse_values(m["results"]) if m["results"] is not None else None,
            dead=bool(m["dead"]),
        )
    m = _GIVE_UP.match(line)
    if m:
        return ParsedStep(line=line, state=parse_values(m["state"]), dead=True)
    return None


def solution_path(parsed: list[ParsedStep]) -> list[ParsedStep]:
    """The steps that lead to the last result, found backwards through the states they name.

    In a search trace each step names its state, so the path is the chain of kept steps whose
    numbers left are the next step's state; a direct trace is all path.
    """
    kept = [p for p in parsed if p.is_step and not p.dead]
    if not kept:
        return []
    path = [kept[-1]]
    for p in reversed(kept[:-1]):
        want = path[0].state
        if want is None:  # direct trace: no states written, every step is on the path
            path.insert(0, p)
        elif p.left is not None and sorted(p.left) == sorted(want):
            path.insert(0, p)
    return path


def expression(numbers, steps: list[Move]) -> str:
    """The answer expression for a solution path, fully parenthesised below the top operator."""
    exprs = _spelled(numbers, steps)
    text = exprs[0][1]
    return text[1:-1] if text.startswith("(") and len(exprs) == 1 and len(numbers) > 1 else text


def written_expression(numbers, steps: list[ParsedStep]) -> str:
    """The expression a direct trace's steps spell out, as written: each result stands for the
    operation that made it, and an operand that is no number left is written as it is. Nothing is
    checked (a step's arithmetic may be wrong): it is a transcription, which the rules then judge."""
    text = _spelled(numbers, steps, loose=True)[-1][1]
    return text[1:-1] if text.startswith("(") and steps else text


def _spelled(numbers, steps, loose: bool = False) -> list[tuple]:
    """(value, expression) for the numbers not used yet after ``steps`` (anything with ``a``,
    ``op``, ``b`` and ``c``), each result standing for the operation that made it; ``loose``: an
    operand that is no number left is written as it is instead of refused."""
    exprs = [(v, str(v)) for v in numbers]
    for step in steps:
        ea = _take(exprs, step.a, loose)
        eb = _take(exprs, step.b, loose)
        exprs.append((step.c, f"({ea} {step.op} {eb})"))
    return exprs


def _take(exprs: list, value, loose: bool = False) -> str:
    for k, (v, e) in enumerate(exprs):
        if v == value:
            del exprs[k]
            return e
    if loose:
        return fmt(value)
    raise ValueError(f"{value} is not available")


# --------------------------------------------------------------------------- answers


_TOKEN = re.compile(r"\s*(\d+|[-+*/()])")


def parse_expression(expr: str):
    """An answer as nested ``(op, left, right)`` tuples over ints; ValueError when malformed."""
    tokens, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"unexpected character {expr[pos]!r}")
        tokens.append(m.group(1))
        pos = m.end()

    def atom(k):
        if k >= len(tokens):
            raise ValueError("expression ends too early")
        t = tokens[k]
        if t == "(":
            node, k = add(k + 1)
            if k >= len(tokens) or tokens[k] != ")":
                raise ValueError("missing )")
            return node, k + 1
        if t.isdigit():
            return int(t), k + 1
        raise ValueError(f"unexpected {t!r}")

    def binary(k, ops, sub):
        node, k = sub(k)
        while k < len(tokens) and tokens[k] in ops:
            op = tokens[k]
            right, k = sub(k + 1)
            node = (op, node, right)
        return node, k

    def mul(k):
        return binary(k, "*/", atom)

    def add(k):
        return binary(k, "+-", mul)

    tree, k = add(0)
    if k != len(tokens):
        raise ValueError(f"unexpected {tokens[k]!r}")
    return tree


def evaluate_expression(expr: str, numbers, rational: bool) -> Value:
    """Evaluate an answer expression under the task's rules.

    Raises ValueError when it is malformed, uses a number not given (or twice), or breaks a rule
    (a negative or fractional intermediate in Countdown, division by zero).
    """
    pool = list(numbers)

    def value(node):
        if isinstance(node, int):
            if node not in pool:
                raise ValueError(f"{node} is not one of the given numbers (or is used too often)")
            pool.remove(node)
            return node
        op, left, right = node
        a, b = value(left), value(right)
        c = apply_written(a, op, b, rational)
        if c is None:
            raise ValueError(f"{fmt(a)} {op} {fmt(b)} breaks the rules")
        return c

    result = value(parse_expression(expr))
    if pool:
        raise ValueError(f"not all numbers used: {' '.join(map(str, pool))} left")
    return result
