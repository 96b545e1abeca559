"""The arithmetic of Countdown and Game of 24, with no text: values, moves and the exhaustive solver.

Countdown (Stream of Search, Gandhi et al. 2024): every intermediate result is a non-negative
integer and division must be exact. Game of 24 (Tree of Thoughts): exact rational arithmetic, so
``8/(3-8/3)`` is fine. Each number is used exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Iterator, Union

Value = Union[int, Fraction]

OPS = ("+", "-", "*", "/")


@dataclass(frozen=True)
class Move:
    """One step: ``a op b = c``, taking the numbers at positions i and j of the state."""

    i: int
    j: int
    a: Value
    op: str
    b: Value
    c: Value


def apply(a: Value, op: str, b: Value, rational: bool) -> Value | None:
    """The result of ``a op b`` under the rules, or None when the rules forbid it."""
    if op == "+":
        return a + b
    if op == "*":
        return a * b
    if op == "-":
        c = a - b
        return c if c >= 0 else None
    if op == "/":
        if b == 0:
            return None
        if rational:
            c = Fraction(a) / b
            return int(c) if c.denominator == 1 else c
        return a // b if a % b == 0 else None
    raise ValueError(f"unknown operator {op!r}")


def apply_written(a: Value, op: str, b: Value, rational: bool) -> Value | None:
    """``apply`` for an operation in a written answer, where Game of 24 also allows a negative
    intermediate."""
    c = apply(a, op, b, rational)
    if c is None and op == "-" and rational:
        c = a - b
    return c


def moves(state: tuple[Value, ...], rational: bool, cap: int | None = None) -> Iterator[Move]:
    """All legal steps from a state, in a fixed order: pairs by position, then + - * /.

    Operands are written larger first (``9 - 7``, ``25 * 3``); in rational mode a division is
    tried both ways. Results above ``cap`` are skipped (the nano tokenizer has no token for them).
    A pair of values met before at other positions (the state holds a number twice) is skipped:
    it would repeat the same step.
    """
    n = len(state)
    seen = set()
    for i in range(n):
        for j in range(i + 1, n):
            x, y = state[i], state[j]
            hi, lo, hi_i, lo_i = (x, y, i, j) if x >= y else (y, x, j, i)
            if (hi, lo) in seen:
                continue
            seen.add((hi, lo))
            pairs = [(hi, lo, hi_i, lo_i)]
            for op in OPS:
                orders = pairs
                if op == "/" and rational and hi != lo:
                    orders = pairs + [(lo, hi, lo_i, hi_i)]
                for a, b, ai, bi in orders:
                    c = apply(a, op, b, rational)
                    if c is None or (cap is not None and c > cap):
                        continue
                    yield Move(ai, bi, a, op, b, c)


def after(state: tuple[Value, ...], move: Move) -> tuple[Value, ...]:
    """The numbers left after a move: the others in their order, then the result."""
    return tuple(v for k, v in enumerate(state) if k not in (move.i, move.j)) + (move.c,)


@lru_cache(maxsize=1 << 20)
def _solvable(key: tuple[Value, ...], target: Value, rational: bool, cap: int | None) -> bool:
    if len(key) == 1:
        return key[0] == target
    if len(key) == 2:  # the hot leaf case, without building Move objects
        lo, hi = key
        return target in (hi + lo, hi - lo, hi * lo) or (lo != 0 and (
            (Fraction(hi) / lo == target) if rational else (hi % lo == 0 and hi // lo == target))) or (
            rational and hi != 0 and Fraction(lo) / hi == target)
    return any(_solvable(tuple(sorted(after(key, m))), target, rational, cap) for m in moves(key, rational, cap))


def solvable(state, target, rational: bool = False, cap: int | None = None) -> bool:
    """Whether the target can be reached from these numbers (exhaustive, memoised)."""
    return _solvable(tuple(sorted(state)), target, rational, cap)


def solve(state, target, rational: bool = False, cap: int | None = None) -> list[Move] | None:
    """One solution path (the first in move order), or None when there is none."""
    state = tuple(state)
    if len(state) == 1:
        return [] if state[0] == target else None
    for m in moves(state, rational, cap):
        nxt = after(state, m)
        if solvable(nxt, target, rational, cap):
            return [m] + solve(nxt, target, rational, cap)
    return None


def pair_results(pair, target, rational: bool, cap: int | None = None) -> list[Value]:
    """What two numbers make, in move order, up to and including the target if they make it."""
    out = []
    for m in moves(pair, rational, cap):
        out.append(m.c)
        if m.c == target:
            break
    return out
