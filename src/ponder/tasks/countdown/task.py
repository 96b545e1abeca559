"""The Countdown task: problems and splits, prompt, verification, summaries and the solver's traces.

How the traces are written (``search`` and ``direct``) is told in the package doc
(``ponder.tasks.countdown``).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ponder.errors import UserError
from ponder.tasks.base import ANSWER_PREFIX, StepCheck, Task, final_answer, numbers_and_target, whole_number
from ponder.tasks.countdown.checker import check_steps
from ponder.tasks.countdown.notation import (
    DEAD_END, FRACTION_BAR, JOIN, PROMPT_ARROW, SPAWN, THEN, evaluate_expression, expression, fmt, fmt_state, parse_step,
    solution_path, step_line, written_expression,
)
from ponder.tasks.countdown.outcomes import prefix_outcomes
from ponder.tasks.countdown.rules import Move, Value, after, moves, pair_results, solvable, solve
from ponder.types import Problem
from ponder.utils import stable_hash


WORDS = ("countdown", "game24", ANSWER_PREFIX, PROMPT_ARROW, DEAD_END, FRACTION_BAR, "direct", "parallel")
"""The words and symbols Countdown and Game of 24 write as single tokens: the families' names
(each prompt's first word), the answer marker, the arrow to the target, the dead end, the
fraction bar and the word that asks for a direct trace."""

BENCHMARKS = {"tot": Path(__file__).parent.parent / "data" / "game24_tot.jsonl"}
"""Published puzzle sets that are splits of their own, kept out of every other split of every
Countdown task. ``tot``: the 100 Game of 24 puzzles Tree of Thoughts (Yao et al. 2023) evaluates
on, ranks 901-1000 of the 4nums.com list (``src/tot/data/24/24.csv`` of princeton-nlp's
tree-of-thought-llm); GPT-4 with ToT solves 74% of them."""


def written_step(p) -> str:
    """A parsed step as a direct trace writes it: ``10 - 7 = 3 | 22 3``."""
    return f"{fmt(p.a)} {p.op} {fmt(p.b)} = {fmt(p.c)} | {fmt_state(p.left or ())}"


@dataclass(frozen=True)
class CountdownTask(Task):
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
    benchmark: str = ""
    """A split that holds a published puzzle set (``BENCHMARKS``) instead of hashed problems
    (Game of 24: ``tot``). Its puzzles belong to no other split of any Countdown task."""
    cap: int = 1000
    """Largest intermediate result the nano model can write (its number tokens stop here)."""
    spell_out: bool = True
    """Search traces spell their judgements out: every step restates the target its state aims
    at (``75 81 22 -> 28 : ...``) and a pair of numbers left lists what it makes (``| 22 6 :
    28``). Off for Game of 24, whose target never changes: which pairs make 24 is a small table
    the model learns, and a verdict in one token (``| 11 16 ✗``) keeps its traces short."""

    WORDS = WORDS
    TRACE_STYLES = ("search", "direct", "parallel")
    checks_steps = exact_outcomes = writes_search = rule_judged = lists_steps = True

    @property
    def splits(self) -> tuple[str, ...]:
        splits = ("train", "val", "test") + ("test-unseen",) * bool(self.heldout_fraction)
        return splits + (self.benchmark,) * bool(self.benchmark)

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
        """Every (numbers, target) belongs to exactly one split: a benchmark's puzzle to its
        benchmark (or, in a task without that split, to ``reserved``, which nothing draws from),
        any other to one decided by a stable hash."""
        benchmark = benchmark_puzzles().get((tuple(sorted(numbers)), target))
        if benchmark is not None:
            return benchmark if benchmark == self.benchmark else "reserved"
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
        if split == self.benchmark:  # in the published order, under the published ids
            return [Problem(id=row["id"], task=self.name, numbers=tuple(row["numbers"]), target=row["target"])
                    for row in _benchmark_rows(split)][:n]
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
        *nums, target = [whole_number(x, self.name) for x in list(numbers) + [target]]
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

    def parse_user_input(self, words: list[str], numbers: list[str] | None = None, target=None,
                         cli: bool = True) -> Problem:
        raw, target = numbers_and_target(words, numbers, target, cli)
        if target is None and self.targets[0] != self.targets[1]:
            raise UserError(f"{self.name} needs a target: add --target (or use --task game24)" if cli
                            else f'{self.name} needs a target: write it after "->", e.g. "25 3 7 10 -> 66"')
        return self.make_problem(raw, target)

    # -- what the model reads and writes

    def prompt(self, problem: Problem, style: str = "") -> str:
        """``countdown 25 3 7 10 -> 66``, and ``direct`` at its end to ask for a direct trace."""
        ask = "" if style in ("", "search") else f" {self._style(style)}"
        return f"{self.family} {fmt_state(problem.numbers)} {PROMPT_ARROW} {problem.target}{ask}\n"

    def _style(self, style: str) -> str:
        if style not in self.TRACE_STYLES:
            raise UserError(f"unknown trace style {style!r} for {self.name}; choose one of: {', '.join(self.TRACE_STYLES)}")
        return style

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

    def mark_lines(self, problem: Problem, text: str) -> list[str | None]:
        lines = text.split("\n")
        parsed = [parse_step(line) for line in lines]
        path = {id(p) for p in solution_path([p for p in parsed if p is not None])}
        marks, left = [], tuple(sorted(problem.numbers))
        for line, p in zip(lines, parsed):
            if p is None:
                marks.append("answer" if final_answer(line) is not None else None)
                continue
            back = p.state is not None and tuple(sorted(p.state)) != left
            marks.append("path" if id(p) in path else "dead" if p.dead else "backtrack" if back else None)
            if p.is_step and p.left is not None and not p.dead:
                left = tuple(sorted(p.left))
            elif back and p.state is not None:
                left = tuple(sorted(p.state))
        return marks

    def no_solution(self, problem: Problem) -> str | None:
        """Said when no expression reaches the target: the solver tried every one, with no cap on
        the numbers between (the rule that checks answers has none)."""
        if solvable(problem.numbers, problem.target, self.rational, None):
            return None
        steps = "" if self.rational else " (dividing only where it comes out whole)"
        return (f"{fmt_state(problem.numbers)} -> {problem.target} has no solution: no expression of these numbers "
                f"with + - * /{steps} makes {problem.target}; the exhaustive solver tried them all")

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
                     p_slip: float = 0.3, give_up: bool = False) -> list[tuple[str, bool]]:
        """A depth-first search written out, as (text, trained) segments; see the package doc.

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

        With ``give_up``, a problem with no solution is searched all the same and given up at the end
        (``25 3 7 ✗``): what a thread handed a dead state writes.

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
            if give_up:  # a thread handed a dead state says so, as a search gives up a state within
                return segments + [(f"{fmt_state(problem.numbers)} {DEAD_END}\n", True)]
            raise ValueError(f"{problem.numbers} -> {problem.target} has no solution")
        segments.append((f"{ANSWER_PREFIX} {expression(problem.numbers, path)}\n", True))
        return segments

    def parallel_trace(self, problem: Problem, rng: random.Random, wave: int = 6,
                       p_dead: float = 0.8) -> list[tuple[str, bool]]:
        """The root thread of a parallel search, as (text, trained) segments: it hands the children of
        the problem's state to threads of their own, ``wave`` at a time, in move order (the same
        children the serial search tries: every one that can reach the target, a dead end with
        probability ``p_dead``), one spawn line each (a step ending in ``>``), then the join mark
        (``<``). The threads' results follow, untrained, as the runtime writes them (``joined``: the
        spawn's step, then the path its thread found, or ``✗``), each thread having searched its
        state serially as the ``search`` style does (its path: the solver's first in move order).
        When one found a path, the root copies that line out as direct steps, one a line, and writes
        the answer; otherwise it hands out the next wave."""
        target, rational, limit = problem.target, self.rational, self.cap
        aim = target if self.spell_out else None
        state = tuple(problem.numbers)
        tried = [m for m in moves(state, rational, limit)
                 if len(after(state, m)) > 1 and (solvable(after(state, m), target, rational, limit) or rng.random() < p_dead)]
        segments: list[tuple[str, bool]] = []
        for start in range(0, len(tried), wave):
            group = tried[start:start + wave]
            segments += [(f"{step_line(m, after(state, m), state, aim=aim)} {SPAWN}\n", True) for m in group]
            segments.append((JOIN, True))
            paths = [solve(after(state, m), target, rational, limit) for m in group]
            results = [self.result_line(state, [m, *path] if path is not None else [m], path is not None)
                       for m, path in zip(group, paths)]
            segments.append(("\n" + "".join(r + "\n" for r in results), False))
            found = next((r for r, path in zip(results, paths) if path is not None), None)
            if found is not None:
                m, path = next((m, path) for m, path in zip(group, paths) if path is not None)
                steps = "".join(line + "\n" for line in found.split(f" {THEN} "))
                segments.append((steps + f"{ANSWER_PREFIX} {expression(problem.numbers, [m, *path])}\n", True))
                return segments
        raise ValueError(f"{problem.numbers} -> {problem.target} has no solution")

    @staticmethod
    def result_line(state, path: list[Move], found: bool) -> str:
        """A thread's result as its parent reads it: the steps from ``state`` (the spawn's, then the
        thread's path) joined by ``;``, or the spawn's step and ``✗`` when the thread found none."""
        lines, now = [], tuple(state)
        for m in path:
            now = after(now, m)
            lines.append(step_line(m, now))
        return f" {THEN} ".join(lines) if found else f"{lines[0]} {DEAD_END}"

    # -- threads (the ``parallel`` strategy's runtime)

    join_mark = JOIN

    def spawned(self, problem: Problem, text: str) -> list[tuple[str, Problem]]:
        """(spawn, sub-problem) for each state a thread handed out since its last join: the spawn
        line's step (``25 - 3 = 22 | 7 10 22``), and its numbers left with the same target (a line
        that is no legal step of the state it names hands out nothing)."""
        lines = text.split("\n")
        since = max((i for i, line in enumerate(lines) if line.strip() == JOIN), default=-1)
        subs = []
        for line in lines[since + 1:]:
            if not line.rstrip().endswith(SPAWN):
                continue
            p = parse_step(line.rstrip()[:-len(SPAWN)])
            if p is None or not p.is_step or p.left is None or len(p.left) < 2:
                continue
            sub = Problem(id=f"{problem.id}/{len(subs)}", task=self.name, numbers=tuple(p.left), target=problem.target)
            subs.append((written_step(p), sub))
        return subs

    def joined(self, spawn: str, sub: Problem, text: str) -> str:
        """A thread's result line from what it wrote: its spawn's step, then the path its reasoning
        ends on (its own claim, not checked: no rule is consulted at test time), or ``✗`` when it
        reached no answer."""
        parsed = [p for p in map(parse_step, self.steps(text)) if p is not None]
        path = solution_path(parsed) if self.answer(text) is not None else []
        if not path:
            return f"{spawn} {DEAD_END}"
        return f" {THEN} ".join([spawn, *map(written_step, path)])

    def thread_outcome(self, problem: Problem, text: str) -> float:
        """1.0 when the result line its parent reads (``joined``) is right: a right path from its
        state, or none (``✗``: given up, or cut off) where the solver finds none (within the cap on
        numbers between that the traces keep); 0.0 for a wrong path, or none from a live state."""
        answer = self.answer(text)
        if answer is not None:
            return float(self.check(problem, answer))
        return float(not solvable(problem.numbers, problem.target, self.rational, self.cap))

    def copied(self, results: str) -> str | None:
        """The first result that is a path, a step a line (``parallel_trace``: what the root copies)."""
        found = next((line for line in results.split("\n") if line.strip() and not line.rstrip().endswith(DEAD_END)), None)
        return None if found is None else "".join(step.strip() + "\n" for step in found.split(f" {THEN} "))

    def full_search(self, problem: Problem, give_up: bool = False) -> str:
        """The whole search as greedy decoding writes it: every dead end tried, none misjudged; with
        ``give_up``, a problem with no solution ends in its state given up (a thread's dead state)."""
        return "".join(text for text, _ in self.search_trace(problem, random.Random(0), p_dead=1.0, p_slip=0.0,
                                                             give_up=give_up))

    THREAD = "thread"
    """The example style (``example``) of a parallel search's thread: a state the root hands out,
    searched serially and given up if dead. Not a prompt style: a thread's prompt is its state's."""

    def example(self, problem: Problem, style: str, rng) -> tuple[str, list[tuple[str, bool]]]:
        if style != self.THREAD:
            return super().example(problem, style, rng)
        state = tuple(problem.numbers)
        children = [after(state, m) for m in moves(state, self.rational, self.cap) if len(after(state, m)) > 1]
        sub = Problem(f"{problem.id}/thread", self.name, rng.choice(children), problem.target)
        return self.prompt(sub), self.search_trace(sub, rng, give_up=True)

    def trace(self, problem: Problem, style: str = "search", rng: random.Random | None = None) -> list[tuple[str, bool]]:
        """A training trace as (text, trained) segments: ``search``, ``direct`` or ``parallel`` (the
        root thread; its threads are ``search`` traces of their states)."""
        rng = rng or random.Random(0)
        style = self._style(style)
        if style == "direct":
            return [(self.direct_trace(problem, rng), True)]
        if style == "parallel":
            return self.parallel_trace(problem, rng)
        return self.search_trace(problem, rng)

    # -- per-step labels

    def check_steps(self, problem: Problem, text: str) -> list[StepCheck]:
        return check_steps(problem, self.steps(text), self.rational, self.cap)

    def next_steps(self, problem: Problem, text: str) -> list[str] | None:
        """After a direct trace's steps: every legal step from the numbers they leave, in move
        order, one for each set of numbers it can leave; with one number left, the answer line if it is the target (else nothing). None
        for a text with a line that is no direct step (a search, an answer, anything else); a
        path with a step that is no legal move leads nowhere ([])."""
        walked = self._walk(problem, text)
        if walked is None or self.answer(text) is not None:
            return None
        if walked is False:
            return []
        state, path = walked
        if len(state) == 1:
            return [f"{ANSWER_PREFIX} {expression(problem.numbers, path)}"] if state[0] == problem.target else []
        lines, reached = [], set()
        for m in moves(state, self.rational, self.cap):  # two moves that leave the same numbers are one step
            left = after(state, m)
            if tuple(sorted(left)) not in reached:
                reached.add(tuple(sorted(left)))
                lines.append(step_line(m, left))
        return lines

    def legal(self, problem: Problem, text: str) -> bool | None:
        """Whether every step of a direct trace is a move of the game (both numbers there, the
        arithmetic right, the numbers it says are left the true ones); None for any other text."""
        walked = self._walk(problem, text)
        return None if walked is None else walked is not False

    def _walk(self, problem: Problem, text: str):
        """A direct trace's steps as moves: (the numbers left, the moves), False when a step is no
        legal move, None when a line is no direct step (the answer line is not read)."""
        state, path = tuple(problem.numbers), []
        for line in self.steps(text):
            p = parse_step(line)
            if p is None or p.state is not None or not p.is_step or p.dead:
                return None
            move = next((m for m in moves(state, self.rational, self.cap) if (m.a, m.op, m.b, m.c) == (p.a, p.op, p.b, p.c)),
                        None)
            if move is None or (p.left is not None and sorted(p.left) != sorted(after(state, move))):
                return False
            state = after(state, move)
            path.append(move)
        return state, path

    def written_answer(self, problem: Problem, text: str) -> str | None:
        parsed = [parse_step(line) for line in self.steps(text)]
        if not parsed or any(p is None or not p.is_step or p.state is not None or p.left is None for p in parsed):
            return None
        if len(parsed[-1].left) != 1:
            return None
        return f"{ANSWER_PREFIX} {written_expression(problem.numbers, parsed)}"

    def slip(self, problem: Problem, line: str, rng: random.Random) -> str | None:
        from ponder.tasks.countdown.judge import slip

        return slip(line, problem, self.rational, rng)

    def prefix_outcomes(self, problem: Problem, text: str, room: int | None = None, count=None) -> list[bool]:
        """Per step: would a faultless search from the end of that step still answer correctly
        (within ``room`` tokens, when given; see the module function)."""
        return prefix_outcomes(problem, self.steps(text), self.rational, self.cap, room, count, self.spell_out)


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


def _benchmark_rows(name: str) -> list[dict]:
    return [json.loads(line) for line in BENCHMARKS[name].read_text().splitlines() if line.strip()]


@lru_cache(maxsize=1)
def benchmark_puzzles() -> dict[tuple, str]:
    """(sorted numbers, target) -> the benchmark it belongs to, for every puzzle in ``BENCHMARKS``."""
    return {(tuple(sorted(row["numbers"])), row["target"]): name
            for name in BENCHMARKS for row in _benchmark_rows(name)}
