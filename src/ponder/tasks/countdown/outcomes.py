"""Exact prefix values: would a trace still end correctly if the search went on without a mistake?

The oracle replays a trace's lines as a depth-first search position and asks the exhaustive
solver (``rules``) what a faultless continuation would reach, and at what cost in tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from ponder.tasks.countdown.notation import DEAD_END, ParsedStep, fmt_state, parse_step, step_line
from ponder.tasks.countdown.rules import Move, Value, after, moves, pair_results, solvable, solve
from ponder.types import Problem


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

    A direct trace (no line names the state it works on) is one path with no going back: a step
    once written stands, so its outcome is whether the numbers it leaves can still reach the
    target, every step so far valid (``_direct_outcomes``); a step after the last number is lost.
    """
    count = _memo(count or (lambda line: len(line.split()) + 1))
    parsed = [parse_step(line) for line in lines]
    if all(p is None or p.state is None for p in parsed):
        return _direct_outcomes(problem, lines, parsed, rational, cap, room, count)
    target = problem.target
    aim = target if spell_out else None
    tried: dict = {}  # (state, move) -> what trying that child costs: every line's continuation shares them
    stack = [_Frame(tuple(problem.numbers), True)]
    out: list[bool] = []
    used = 0
    finished: bool | None = None  # set once a final step reaches the target
    for line, p in zip(lines, parsed):
        if room is not None:
            used += count(line)
        if finished is None and p is not None:
            finished = _advance(stack, p, target, rational, cap)
        alive = finished if finished is not None else _succeeds(stack, target, rational, cap)
        if alive and room is not None:
            ahead = 0 if finished else _faultless_cost(stack, target, rational, cap, aim, count, tried)
            alive = used + ahead + _answer_tokens(len(problem.numbers)) <= room
        out.append(alive)
    return out


def _direct_outcomes(problem: Problem, lines: list[str], parsed: list[ParsedStep | None], rational: bool, cap,
                     room: int | None, count) -> list[bool]:
    """``prefix_outcomes`` of a direct trace: after each line, were its steps valid and can the
    numbers they leave reach the target (and, with ``room``, does the rest of a path fit)? A line
    that is no step changes nothing; a step marked as a dead end, or one after the last number,
    gives the path up."""
    target = problem.target
    state, genuine, finished = tuple(problem.numbers), True, None
    out: list[bool] = []
    used = 0
    for line, p in zip(lines, parsed):
        used += count(line)
        if finished is not False and p is not None and p.is_step:
            if len(state) == 1:
                finished = False  # a step after the last number: it combines numbers there are not
            else:
                state, ok = _step(state, p, rational, cap)
                genuine = genuine and ok
                if p.dead:
                    finished = False
                elif len(state) == 1:
                    finished = genuine and state[0] == target
        alive = finished if finished is not None else genuine and solvable(state, target, rational, cap)
        if alive and room is not None and finished is None:
            path, left = solve(state, target, rational, cap) or [], state
            ahead = 0
            for m in path:
                left = after(left, m)
                ahead += count(step_line(m, left))
            alive = used + ahead + _answer_tokens(len(problem.numbers)) <= room
        elif alive and room is not None:
            alive = used + _answer_tokens(len(problem.numbers)) <= room
        out.append(alive)
    return out


def _step(state: tuple[Value, ...], p: ParsedStep, rational: bool, cap) -> tuple[tuple[Value, ...], bool]:
    """The numbers left after the step ``p`` from ``state``, and whether the step was a legal move
    with the right result and the numbers it says are left are those."""
    children = list(moves(state, rational, cap))
    valid = any((m.a, m.op, m.b, m.c) == (p.a, p.op, p.b, p.c) for m in children)
    pool = list(state)
    for v in (p.a, p.b):
        if v in pool:
            pool.remove(v)
    child = tuple(pool) + (p.c,)
    return child, valid and (p.left is None or sorted(p.left) == sorted(child))


def _answer_tokens(k: int) -> int:
    """Tokens of an answer line over k numbers: ``answer:``, the numbers, k - 1 operators, the
    parentheses ``expression`` writes, the newline."""
    return 1 + k + (k - 1) + 2 * max(0, k - 2) + 1


def _memo(count):
    """``count``, remembering each line's tokens (a trace's continuations write the same lines)."""
    seen: dict[str, int] = {}

    def counted(line: str) -> int:
        if line not in seen:
            seen[line] = count(line)
        return seen[line]

    return counted


def _faultless_cost(stack: list[_Frame], target, rational: bool, cap, aim, count, tried: dict) -> int:
    """Tokens a faultless search writes from this position up to its answer line (``tried``
    remembers what each child of a state cost to try, within one trace)."""
    total = 0
    for depth in range(len(stack) - 1, -1, -1):
        frame = stack[depth]
        for m in list(moves(frame.state, rational, cap))[frame.next:]:
            key = (frame.state, m)
            if key not in tried:
                tried[key] = _try_child(frame.state, m, target, rational, cap, aim, count)
            cost, found = tried[key]
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
    index = next((i for i, m in enumerate(moves(frame.state, rational, cap)) if (m.a, m.op, m.b) == (p.a, p.op, p.b)),
                 None)
    if index is not None:
        frame.next = max(frame.next, index + 1)
    child, ok = _step(frame.state, p, rational, cap)
    genuine = frame.genuine and ok
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
