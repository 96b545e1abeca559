"""The step checker: exact per-line labels (valid arithmetic? target still reachable?) for a trace."""

from __future__ import annotations

from ponder.tasks.base import StepCheck
from ponder.tasks.countdown.notation import ParsedStep, fmt, fmt_state, parse_step
from ponder.tasks.countdown.rules import apply, moves, solvable
from ponder.types import Problem


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
