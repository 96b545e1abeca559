"""Countdown and Game of 24: reach a target from a handful of numbers with + - * /.

Rules. Countdown (Stream of Search, Gandhi et al. 2024): every intermediate result is a
non-negative integer and division must be exact. Game of 24 (Tree of Thoughts): exact rational
arithmetic, so ``8/(3-8/3)`` is fine. Each number is used exactly once.

Everything the model writes is one step per line, ``a op b = c | numbers left``, so a rule can
check each step. Two kinds of training trace come from the exhaustive solver here:

* ``direct``: one solution path, then the answer.
* ``search``: a depth-first search written out in full. Every line names the state it works on
  and the target it aims at, ``25 3 7 9 -> 66 : 25 * 3 = 75 | 75 7 9``. Children are visited in
  a fixed order; a child that can reach the target is always tried, a dead end usually (now and
  then it is passed over). A child that leaves two numbers is judged on the spot by listing what
  they make, in move order, up to the target (``| 44 95 : 139 51 ✗``: none is, a dead end); a
  child that leaves more is explored, and a state that yields nothing is given up (``75 7 9 ✗``)
  for the next try one level up. Now and then a two-number dead end is misjudged on purpose
  (that slip is not trained) and found out by doing its last steps honestly. The model learns a
  search it can carry out exactly: take the next step in order, check it, back off when it
  fails; since tries only move forward in the fixed order, it never repeats one. Game of 24,
  whose target never changes, writes neither the target nor the list, only the verdict.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Iterator, Union

from ponder.errors import UserError
from ponder.tasks.base import ANSWER_PREFIX, final_answer
from ponder.types import Problem
from ponder.utils import stable_hash

Value = Union[int, Fraction]

FRACTION_BAR = "⁄"  # U+2044: a fraction inside a trace, distinct from the division operator
DEAD_END = "✗"
OPS = ("+", "-", "*", "/")
PROMPT_ARROW = "->"
MAKES = ":"  # "| 44 95 : 139 51 ✗": what the two numbers left make


# --------------------------------------------------------------------------- arithmetic rules


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


# --------------------------------------------------------------------------- writing and reading


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


def pair_results(pair, target, rational: bool, cap: int | None = None) -> list[Value]:
    """What two numbers make, in move order, up to and including the target if they make it."""
    out = []
    for m in moves(pair, rational, cap):
        out.append(m.c)
        if m.c == target:
            break
    return out


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
    exprs = [(v, str(v)) for v in numbers]
    for m in steps:
        ea = _take(exprs, m.a)
        eb = _take(exprs, m.b)
        exprs.append((m.c, f"({ea} {m.op} {eb})"))
    text = exprs[0][1]
    return text[1:-1] if text.startswith("(") and len(exprs) == 1 and len(numbers) > 1 else text


def _take(exprs: list, value) -> str:
    for k, (v, e) in enumerate(exprs):
        if v == value:
            del exprs[k]
            return e
    raise ValueError(f"{value} is not available")


# --------------------------------------------------------------------------- checking answers


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


def apply_written(a: Value, op: str, b: Value, rational: bool) -> Value | None:
    """``apply`` for an operation in a written answer, where Game of 24 also allows a negative
    intermediate."""
    c = apply(a, op, b, rational)
    if c is None and op == "-" and rational:
        c = a - b
    return c


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


# --------------------------------------------------------------------------- the task


@dataclass(frozen=True)
class CountdownTask:
    """Reach ``target`` from ``k`` numbers.

    Countdown's default follows Stream of Search: targets 10..100, numbers 1..99 drawn with
    replacement, only solvable problems, and 10% of target values held out of training
    (split ``test-unseen``). Game of 24 is the same task with rational arithmetic, numbers
    1..13 and target 24; its 1,362 solvable puzzles are split by a hash of the numbers.
    """

    name: str = "countdown"
    k: int = 4
    numbers_range: tuple[int, int] = (1, 99)
    targets: tuple[int, int] = (10, 100)
    rational: bool = False
    heldout_fraction: float = 0.1
    cap: int = 1000
    """Largest intermediate result the nano model can write (its number tokens stop here)."""
    spell_out: bool = True
    """Search traces spell their judgements out: every step restates the target its state aims
    at (``75 81 22 -> 28 : ...``) and a pair of numbers left lists what it makes (``| 22 6 :
    28``). Off for Game of 24, whose target never changes: which pairs make 24 is a small table
    the model learns, and a verdict in one token (``| 11 16 ✗``) keeps its traces short."""

    @property
    def splits(self) -> tuple[str, ...]:
        if self.heldout_fraction:
            return ("train", "val", "test", "test-unseen")
        return ("train", "val", "test")

    # -- problem generation

    @property
    def heldout_targets(self) -> frozenset[int]:
        lo, hi = self.targets
        values = list(range(lo, hi + 1))
        n = round(len(values) * self.heldout_fraction)
        # one set for the whole family, so no countdown-k ever trains on another's held-out targets
        return frozenset(random.Random(f"{self.family}-heldout").sample(values, n)) if n else frozenset()

    @property
    def family(self) -> str:
        return self.name.split("-")[0]

    def _split_of(self, numbers: tuple[int, ...], target: int) -> str:
        """Every (numbers, target) belongs to exactly one split, decided by a stable hash."""
        if target in self.heldout_targets:
            return "test-unseen"
        bucket = stable_hash(f"{sorted(numbers)}>{target}") % 100
        train_share = 55 if self.enumerable else 90
        if bucket < train_share:
            return "train"
        return "val" if bucket < train_share + 5 else "test"

    @property
    def enumerable(self) -> bool:
        """Few enough distinct problems to list them all (Game of 24: 1,820 number sets)."""
        lo, hi = self.numbers_range
        return self.targets[0] == self.targets[1] and (hi - lo + 1) <= 16

    def problems(self, split: str, n: int, seed: int = 0) -> list[Problem]:
        if split not in self.splits:
            raise UserError(f"unknown split {split!r} for {self.name}; choose one of: {', '.join(self.splits)}")
        if self.enumerable:
            pool = [p for p in _all_problems(self) if self._split_of(p.numbers, p.target) == split]
            random.Random(f"{self.name}-{split}-{seed}").shuffle(pool)
            return pool[:n]
        rng = random.Random(f"{self.name}-{split}-{seed}")
        lo, hi = self.targets
        heldout = self.heldout_targets
        if split == "test-unseen":
            target_pool = sorted(heldout)
        else:
            target_pool = [t for t in range(lo, hi + 1) if t not in heldout]
        out: list[Problem] = []
        seen = set()
        while len(out) < n:
            numbers = tuple(rng.randint(*self.numbers_range) for _ in range(self.k))
            target = rng.choice(target_pool)
            key = (tuple(sorted(numbers)), target)
            if key in seen or self._split_of(numbers, target) != split:
                continue
            if not solvable(numbers, target, self.rational, self.cap):
                continue
            seen.add(key)
            out.append(Problem(id=f"{self.name}-{split}-{seed}-{len(out)}", task=self.name, numbers=numbers, target=target))
        return out

    def make_problem(self, numbers, target=None, id: str = "user") -> Problem:
        if target is None:
            if self.targets[0] != self.targets[1]:
                raise UserError(f"{self.name} needs a target")
            target = self.targets[0]
        values = []
        for x in list(numbers) + [target]:
            if isinstance(x, bool) or not isinstance(x, (int, str)) or not str(x).strip().isdigit():
                raise UserError(f"{self.name} takes whole non-negative numbers, got {x!r}")
            values.append(int(x))
        *nums, target = values
        lo, hi = self.numbers_range
        if not 2 <= len(nums) <= 6:
            raise UserError(f"{self.name} takes 2 to 6 numbers, got {len(nums)}")
        if self.enumerable and len(nums) != self.k:
            raise UserError(f"{self.name} takes exactly {self.k} numbers, got {len(nums)}")
        bad = [x for x in nums if not lo <= x <= hi]
        if bad:
            raise UserError(f"{self.name} numbers must be in {lo}..{hi}, got {bad[0]}")
        if not self.targets[0] <= target <= self.targets[1]:
            if self.targets[0] == self.targets[1]:
                raise UserError(f"the {self.name} target is always {self.targets[0]}, got {target}")
            raise UserError(f"{self.name} target must be in {self.targets[0]}..{self.targets[1]}, got {target}")
        return Problem(id=str(id), task=self.name, numbers=tuple(nums), target=target)

    # -- what the model reads and writes

    def prompt(self, problem: Problem) -> str:
        return f"{self.family} {fmt_state(problem.numbers)} {PROMPT_ARROW} {problem.target}\n"

    def steps(self, text: str) -> list[str]:
        return [line for line in text.split("\n") if line.strip() and not line.strip().startswith(ANSWER_PREFIX)]

    def answer(self, text: str) -> str | None:
        return final_answer(text)

    def check(self, problem: Problem, answer: str | None) -> bool:
        if not answer:
            return False
        try:
            return evaluate_expression(answer, problem.numbers, self.rational) == problem.target
        except (ValueError, ZeroDivisionError, RecursionError):  # a malformed answer is a wrong one
            return False

    def verify(self, problem: Problem, text: str) -> float:
        return float(self.check(problem, self.answer(text)))

    def summary(self, problem: Problem, text: str) -> str:
        """What the reasoning did, in one or two sentences (shown instead of the reasoning)."""
        parsed = [p for p in map(parse_step, self.steps(text)) if p is not None]
        tried = sum(p.is_step for p in parsed)
        dead = sum(p.is_step and p.dead for p in parsed)
        backtracks = sum(not p.is_step for p in parsed)
        path = solution_path(parsed)
        head = f"Tried {tried} step{'s' * (tried != 1)}, {dead} dead end{'s' * (dead != 1)}"
        if backtracks:
            head += f", {backtracks} backtrack{'s' * (backtracks != 1)}"
        answer = self.answer(text)
        if answer is None:
            return f"{head}; no answer reached {problem.target}."
        chain = "; ".join(f"{fmt(p.a)} {p.op} {fmt(p.b)} = {fmt(p.c)}" for p in path) if path else answer
        return f"{head}. Path: {chain}."

    # -- the solver's traces

    def solution(self, problem: Problem) -> list[Move] | None:
        return solve(problem.numbers, problem.target, self.rational, self.cap)

    def direct_trace(self, problem: Problem, rng: random.Random | None = None) -> str:
        """One solution path, one step per line, then the answer. With ``rng``, a random path."""
        path = self._random_path(problem, rng) if rng else self.solution(problem)
        if path is None:
            raise ValueError(f"{problem.numbers} -> {problem.target} has no solution")
        lines, state = [], tuple(problem.numbers)
        for m in path:
            state = after(state, m)
            lines.append(step_line(m, state))
        lines.append(f"{ANSWER_PREFIX} {expression(problem.numbers, path)}")
        return "\n".join(lines) + "\n"

    def _random_path(self, problem: Problem, rng: random.Random) -> list[Move] | None:
        state, path = tuple(problem.numbers), []
        while len(state) > 1:
            good = [m for m in moves(state, self.rational, self.cap) if solvable(after(state, m), problem.target, self.rational, self.cap)]
            if not good:
                return None
            m = rng.choice(good)
            path.append(m)
            state = after(state, m)
        return path if state[0] == problem.target else None

    def search_trace(self, problem: Problem, rng: random.Random, p_dead: float = 0.8,
                     p_slip: float = 0.3) -> list[tuple[str, bool]]:
        """A depth-first search written out, as (text, trained) segments; see the module doc.

        The children of a state are visited in the fixed move order, so a try is never repeated:
        the next try always comes later in the order. A child that can still reach the target is
        always tried; a dead end is tried with probability ``p_dead`` and otherwise passed over.
        With ``p_dead`` above one half the most likely next line is always the next child in
        order, so greedy decoding carries out the whole search rather than guessing which
        three-number state is solvable (a guess a small model gets wrong often, and a wrongly
        skipped good child loses the problem); the passed-over dead ends keep sampled searches
        varied. Every step restates the target (``76 44 19 -> 48 : ...``), so the model copies it
        on every line, where otherwise it would have to find it in the prompt at the moment it
        judges a pair. A child that leaves two numbers is judged on the spot: the line goes on
        with what the two make, in move order, and stops at the target (``| 44 4 : 48``, then the
        last step) or ends in ``✗`` when none is the target (``| 44 95 : 139 51 ✗``). Each
        listed result is one sum or product to compare with the target written a few tokens
        before, where judging the pair in a single token means doing all of them at once (a model
        asked to do that learned to write ``✗`` after nearly every pair, solvable or not). Game
        of 24 keeps the one-token verdict (``| 11 16 ✗``; see ``spell_out``). A child that leaves
        more numbers is explored, and a state that yields nothing is given up (``29 7 3 ✗``).

        A tried two-number dead end is, with probability ``p_slip``, misjudged instead: its list
        stops short, without ``✗`` (the newline carries no loss, so the model does not learn the
        slip), and the slip is found out honestly, each last step written with its true result and
        ``✗``, and the pair given up. This teaches the model to do the last step's arithmetic
        rather than write the target after a wrong judgement.
        """
        target, rational, limit = problem.target, self.rational, self.cap
        aim = target if self.spell_out else None
        segments: list[tuple[str, bool]] = []

        def explore(state: tuple[Value, ...], root: bool) -> list[Move] | None:
            for m in moves(state, rational, limit):
                nxt = after(state, m)
                if len(nxt) == 1:  # a final step is written only when it reaches the target
                    if nxt[0] == target:
                        segments.append((step_line(m, nxt, state, aim=aim) + "\n", True))
                        return [m]
                    continue
                good = solvable(nxt, target, rational, limit)
                if not good and rng.random() >= p_dead:
                    continue  # passed over
                listed = len(nxt) == 2 and self.spell_out
                results = pair_results(nxt, target, rational, limit) if listed else None
                line = step_line(m, nxt, state, results, aim)
                if len(nxt) == 2 and not good:
                    if rng.random() < p_slip:
                        cut = results[:rng.randint(1, len(results))] if listed else None
                        segments.extend([(step_line(m, nxt, state, cut, aim), True), ("\n", False)])
                        segments.extend((f"{step_line(last, after(nxt, last), nxt, aim=aim)} {DEAD_END}\n", True)
                                        for last in moves(nxt, rational, limit))
                        segments.append((f"{fmt_state(nxt)} {DEAD_END}\n", True))
                    else:
                        segments.append((f"{line} {DEAD_END}\n", True))
                    continue
                segments.append((line + "\n", True))
                rest = explore(nxt, root=False)
                if rest is not None:
                    return [m] + rest
            if not root:
                segments.append((f"{fmt_state(state)} {DEAD_END}\n", True))
            return None

        path = explore(tuple(problem.numbers), root=True)
        if path is None:
            raise ValueError(f"{problem.numbers} -> {problem.target} has no solution")
        segments.append((f"{ANSWER_PREFIX} {expression(problem.numbers, path)}\n", True))
        return segments

    def full_search(self, problem: Problem) -> str:
        """The whole search as greedy decoding writes it: every dead end tried, none misjudged."""
        return "".join(text for text, _ in self.search_trace(problem, random.Random(0), p_dead=1.0, p_slip=0.0))

    TRACE_STYLES = ("search", "direct")

    def trace(self, problem: Problem, style: str = "search", rng: random.Random | None = None) -> list[tuple[str, bool]]:
        """A training trace as (text, trained) segments: ``search`` or ``direct``."""
        rng = rng or random.Random(0)
        if style == "direct":
            return [(self.direct_trace(problem, rng), True)]
        if style == "search":
            return self.search_trace(problem, rng)
        raise UserError(f"unknown trace style {style!r} for {self.name}; choose one of: {', '.join(self.TRACE_STYLES)}")

    # -- per-step labels

    def check_steps(self, problem: Problem, text: str) -> list["StepCheck"]:
        return check_steps(problem, self.steps(text), self.rational, self.cap)

    def prefix_outcomes(self, problem: Problem, text: str, room: int | None = None, count=None) -> list[bool]:
        """Per step: would a faultless search from the end of that step still answer correctly
        (within ``room`` tokens, when given; see the module function)."""
        return prefix_outcomes(problem, self.steps(text), self.rational, self.cap, room, count, self.spell_out)


@dataclass(frozen=True)
class StepCheck:
    """Exact labels for one line: is the arithmetic valid on numbers available, and can the
    target still be reached afterwards. ``solvable`` is None for lines that are not steps."""

    line: str
    valid: bool
    solvable: bool | None
    reason: str = ""


def check_steps(problem: Problem, lines: list[str], rational: bool, cap: int | None = None) -> list[StepCheck]:
    """Label each line of a direct or search trace.

    A step may name its state (``25 3 7 9 : ...``); otherwise it acts on the numbers left by the
    previous valid step. A step is valid when both operands are available, the arithmetic is
    right and legal, the numbers it lists as left are the true ones, the target it restates is the
    problem's, and what it says two numbers left make (``: 139 51``) is what they make, in move
    order.
    """
    root = tuple(problem.numbers)
    current = root
    out: list[StepCheck] = []
    for line in lines:
        p = parse_step(line)
        if p is None:
            out.append(StepCheck(line, False, None, "not a step"))
            continue
        if p.state is not None and len(p.state) >= len(root) and sorted(p.state) != sorted(root):
            # also keeps the solvability check below cheap: no state bigger than the problem's
            out.append(StepCheck(line, False, None if not p.is_step else False, "not a state of this problem"))
            continue
        if not p.is_step:  # "state ✗": giving up a state, which is right when it is a dead end
            ok = not solvable(p.state, problem.target, rational)
            out.append(StepCheck(line, True, None, "" if ok else "gave up a solvable state"))
            current = root
            continue
        state = p.state if p.state is not None else current
        reason = _step_error(state, p, rational)
        if not reason and p.aim is not None and p.aim != problem.target:
            reason = f"aims at {fmt(p.aim)}, the target is {fmt(problem.target)}"
        if reason:
            out.append(StepCheck(line, False, False, reason))
            continue
        left = list(state)
        left.remove(p.a)
        left.remove(p.b)
        left.append(p.c)
        if p.left is not None and sorted(p.left) != sorted(left):
            out.append(StepCheck(line, False, False, "wrong numbers left"))
            continue
        if p.results is not None:
            made = [m.c for m in moves(tuple(sorted(left)), rational, cap)] if len(left) == 2 else []
            if list(p.results) != made[:len(p.results)]:
                out.append(StepCheck(line, False, False, f"{fmt_state(left)} make {fmt_state(made) or 'nothing'}"))
                continue
        can = solvable(left, problem.target, rational)
        out.append(StepCheck(line, True, can))
        if not p.dead:
            current = tuple(left)
    return out


def _step_error(state, p: ParsedStep, rational: bool) -> str:
    pool = list(state)
    for v in (p.a, p.b):
        if v not in pool:
            return f"{fmt(v)} is not available"
        pool.remove(v)
    true = apply(p.a, p.op, p.b, rational)
    if true is None:
        return f"{fmt(p.a)} {p.op} {fmt(p.b)} breaks the rules"
    if true != p.c:
        return f"{fmt(p.a)} {p.op} {fmt(p.b)} is {fmt(true)}, not {fmt(p.c)}"
    return ""


@lru_cache(maxsize=8)
def _all_problems(task: CountdownTask) -> tuple[Problem, ...]:
    from itertools import combinations_with_replacement

    lo, hi = task.numbers_range
    target = task.targets[0]
    out = []
    for nums in combinations_with_replacement(range(lo, hi + 1), task.k):
        if solvable(nums, target, task.rational, task.cap):
            out.append(Problem(id=f"{task.name}-{'-'.join(map(str, nums))}", task=task.name, numbers=nums, target=target))
    return tuple(out)


# --------------------------------------------------------------------------- exact prefix values


@dataclass
class _Frame:
    state: tuple[Value, ...]
    genuine: bool
    """Reached from the problem's numbers by valid steps only (else the numbers are made up)."""
    next: int = 0
    """Index in ``moves(state)`` of the first child not tried yet."""


def prefix_outcomes(problem: Problem, lines: list[str], rational: bool, cap: int | None = None,
                    room: int | None = None, count=None, spell_out: bool = True) -> list[bool]:
    """For each line of a search (or direct) trace: would the trace still end in a correct answer
    if, from the end of that line on, the search were carried out without a mistake?

    This is the exact counterpart of a Monte Carlo value (Math-Shepherd, AlphaMath), which asks
    the same of the policy's own continuations. The trace so far fixes a depth-first search
    position: the states on the stack and, in each, how far through its children (in move order)
    the search has come. The faultless continuation tries the children left at the top of the
    stack, gives the state up when none can reach the target, and goes on one level down; it
    succeeds when the first state with a solvable child ahead was reached by valid steps, and
    fails when that state holds made-up numbers (its answer would use them) or when no state has
    one (the search ends without an answer). So a dead end explored and given up costs nothing,
    while passing over the last solution, or building on wrong arithmetic that then reaches the
    target, is fatal.

    With ``room`` (tokens the completion may hold), the faultless continuation must also fit: it
    writes the search as the solver's traces do, every dead end tried, and the lines so far plus
    the lines it writes must take at most ``room`` tokens, counted by ``count(line)`` (default:
    one token per space-separated piece, and one for the newline, as ponder's tokenizer reads
    these lines). A policy with a bounded context is judged by what it can still finish.
    """
    target = problem.target
    count = count or (lambda line: len(line.split()) + 1)
    aim = target if spell_out else None
    stack = [_Frame(tuple(problem.numbers), True)]
    out: list[bool] = []
    used = 0
    finished: bool | None = None  # set once a final step reaches the target
    for line in lines:
        p = parse_step(line)
        if room is not None:
            used += count(line)
        if finished is None and p is not None:
            finished = _advance(stack, p, target, rational, cap)
        alive = finished if finished is not None else _succeeds(stack, target, rational, cap)
        if alive and room is not None:
            ahead = 0 if finished else _faultless_cost(stack, target, rational, cap, aim, count)
            alive = used + ahead + _answer_tokens(len(problem.numbers)) <= room
        out.append(alive)
    return out


def _answer_tokens(k: int) -> int:
    """Tokens of an answer line over k numbers: ``answer:``, the numbers, k - 1 operators, the
    parentheses ``expression`` writes, the newline."""
    return 1 + k + (k - 1) + 2 * max(0, k - 2) + 1


def _faultless_cost(stack: list[_Frame], target, rational: bool, cap, aim, count) -> int:
    """Tokens a faultless search writes from this position up to its answer line."""
    total = 0
    for depth in range(len(stack) - 1, -1, -1):
        frame = stack[depth]
        for m in list(moves(frame.state, rational, cap))[frame.next:]:
            cost, found = _try_child(frame.state, m, target, rational, cap, aim, count)
            total += cost
            if found:
                return total
        if depth:
            total += count(f"{fmt_state(frame.state)} {DEAD_END}")
    return total


def _try_child(state, m: Move, target, rational: bool, cap, aim, count) -> tuple[int, bool]:
    """(tokens written, target reached) for trying one child the way the solver's traces do."""
    nxt = after(state, m)
    if len(nxt) == 1:  # a final step is written only when it reaches the target
        return (count(step_line(m, nxt, state, aim=aim)), True) if nxt[0] == target else (0, False)
    if len(nxt) == 2:
        results = pair_results(nxt, target, rational, cap) if aim is not None else None
        line = step_line(m, nxt, state, results, aim)
        last = next((k for k in moves(nxt, rational, cap) if k.c == target), None)
        if last is None:
            return count(f"{line} {DEAD_END}"), False
        return count(line) + count(step_line(last, after(nxt, last), nxt, aim=aim)), True
    total = count(step_line(m, nxt, state, aim=aim))
    for k in moves(nxt, rational, cap):
        cost, found = _try_child(nxt, k, target, rational, cap, aim, count)
        total += cost
        if found:
            return total, True
    return total + count(f"{fmt_state(nxt)} {DEAD_END}"), False


def _find(stack: list[_Frame], state) -> int | None:
    want = sorted(state)
    for k in range(len(stack) - 1, -1, -1):
        if sorted(stack[k].state) == want:
            return k
    return None


def _advance(stack: list[_Frame], p: ParsedStep, target, rational: bool, cap) -> bool | None:
    """Move the search position past one line; True/False once a final step decides the answer."""
    if p.state is not None:
        k = _find(stack, p.state)
        if k is None:  # a state the search never reached: its numbers are made up
            stack.append(_Frame(tuple(p.state), False))
        else:
            del stack[k + 1:]
    if not p.is_step:  # "state ✗": given up
        if len(stack) > 1 and p.state is not None:
            stack.pop()
        return None
    frame = stack[-1]
    children = list(moves(frame.state, rational, cap))
    index = next((i for i, m in enumerate(children) if (m.a, m.op, m.b) == (p.a, p.op, p.b)), None)
    valid = index is not None and children[index].c == p.c
    if index is not None:
        frame.next = max(frame.next, index + 1)
    pool = list(frame.state)
    for v in (p.a, p.b):
        if v in pool:
            pool.remove(v)
    child = tuple(pool) + (p.c,)
    genuine = frame.genuine and valid and (p.left is None or sorted(p.left) == sorted(child))
    if len(child) == 1:
        if p.c == target and not p.dead:
            return genuine  # the answer follows: right exactly when its path is
        return None
    if not p.dead:
        stack.append(_Frame(child, genuine))
    return None


def _succeeds(stack: list[_Frame], target, rational: bool, cap) -> bool:
    for frame in reversed(stack):
        children = list(moves(frame.state, rational, cap))[frame.next:]
        if any(solvable(after(frame.state, m), target, rational, cap) for m in children):
            return frame.genuine
    return False
