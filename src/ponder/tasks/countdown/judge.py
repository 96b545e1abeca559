"""What a verifier should say about a Countdown or Game of 24 solution, written from the rules.

These texts are the training targets of ponder's generative judges (``ponder.rewards``):

* ``rationale``: GenRM-CoT's verification, redoing the answer's arithmetic one operation per
  line, each with the given numbers still unused after it, and comparing the result with the
  target (``25 * 3 = 75 | 9`` / ``75 - 9 = 66 | nothing`` / ``66 is the target``), then the
  verdict. Writing the unused numbers down makes every check local: a number used twice, or not
  given at all, is missing from the line above the one that uses it.
* ``critique``: the text critic's, naming the first line that is wrong (bad arithmetic, a pair
  misjudged, a solvable state given up) or after which no solution is left, and why, then the
  verdict. A reviser can act on it: it quotes the line and says what is true instead.

The judges learn to write these from the policy's own solutions and from ``practice_text``:
solver solutions whose answers are rewritten the way a policy gets them wrong (a result written
where its expression belongs, operands swapped, a number repeated...). At test time they write
them without the rules, and only their verdicts are used.
"""

from __future__ import annotations

import random

from ponder.tasks.base import ANSWER_PREFIX
from ponder.tasks.countdown.checker import check_steps
from ponder.tasks.countdown.notation import DEAD_END, fmt, fmt_state, parse_expression, parse_step
from ponder.tasks.countdown.outcomes import prefix_outcomes
from ponder.tasks.countdown.rules import apply, apply_written
from ponder.types import Problem

YES, NO = "Yes", "No"
VERIFY, CHECK, CRITIQUE, VERDICT = "verify:", "check:", "critique:", "verdict:"
WORDS = (YES, NO, VERIFY, CHECK, CRITIQUE, VERDICT, "is", "not", "the", "target", "given", "used", "twice",
         "breaks", "rules", "no", "answer", "mistake", "can", "reach", "make", "left", "wrong", "numbers",
         "nothing", "aims", "at", "gave", "up", "a", "solvable", "state", "step", "of", "this", "problem",
         "way", "to", "malformed", "before", "ran", "out", "room", "available")
"""Words the judges write; a judge's tokenizer gets them as whole tokens (``Tokenizer.extended``)."""


def rationale(task, problem: Problem, text: str) -> tuple[str, bool]:
    """GenRM-CoT's verification of the answer in ``text``: (lines, verdict).

    Operations are redone innermost first, and each uses up its written numbers: a number not
    among those still unused is "not given" on the line that needs it. The verdict is always the
    rule verifier's (a test checks it)."""
    answer = task.answer(text)
    if answer is None:
        return "no answer", False
    try:
        tree = parse_expression(answer)
    except ValueError:
        return "malformed answer", False
    lines: list[str] = []
    unused = list(problem.numbers)

    def redo(node):
        if isinstance(node, int):
            return node
        op, left, right = node
        a, b = redo(left), redo(right)
        for operand in (left, right):
            if isinstance(operand, int):
                if operand not in unused:
                    raise _Wrong(f"{operand} is not given")
                unused.remove(operand)
        c = apply_written(a, op, b, task.rational)
        if c is None:
            raise _Wrong(f"{fmt(a)} {op} {fmt(b)} breaks the rules")
        lines.append(f"{fmt(a)} {op} {fmt(b)} = {fmt(c)} | {fmt_state(unused) or 'nothing'}")
        return c

    try:
        if isinstance(tree, int):
            if tree not in unused:
                raise _Wrong(f"{tree} is not given")
            unused.remove(tree)
        value = redo(tree)
        if unused:
            raise _Wrong(f"{fmt_state(unused)} not used")
    except _Wrong as wrong:
        return "\n".join(lines + [str(wrong)]), False
    if value == problem.target:
        return "\n".join(lines + [f"{fmt(value)} is the target"]), True
    return "\n".join(lines + [f"{fmt(value)} is not the target {fmt(problem.target)}"]), False


class _Wrong(Exception):
    """Why a rationale stops: the line that says what is wrong."""


def critique(task, problem: Problem, text: str) -> tuple[str, bool]:
    """The text critic's judgement of ``text``: (critique, verdict)."""
    correct = task.verify(problem, text) == 1.0
    lines = task.steps(text)
    checks = check_steps(problem, lines, task.rational, task.cap)
    outcomes = prefix_outcomes(problem, lines, task.rational, task.cap)
    target = fmt(problem.target)
    for line, chk, alive in zip(lines, checks, outcomes):
        if not chk.valid:
            return f"{quote(line)}\n{chk.reason}", correct
        if chk.reason:  # a give-up the checker marks as wrong
            return f"{quote(line)}\n{chk.reason}", correct
        if not alive:
            p = parse_step(line)
            if p is not None and p.is_step and p.dead and p.left and chk.solvable:
                why = f"{fmt_state(p.left)} can reach {target}"
            else:
                why = f"no way to {target} is left"
            return f"{quote(line)}\n{why}", correct
    if correct:
        return "no mistake", True
    if task.answer(text) is None:
        return "ran out of room before an answer", False
    why, _ = rationale(task, problem, text)
    return why.split("\n")[-1], False


def quote(line: str) -> str:
    """The part of a line that identifies it: its state and step, without the listed results."""
    p = parse_step(line)
    if p is None:
        return line.strip()[:40]
    if not p.is_step:
        return f"{fmt_state(p.state)} {DEAD_END}"
    head = f"{fmt_state(p.state)} : " if p.state is not None else ""
    return f"{head}{fmt(p.a)} {p.op} {fmt(p.b)} = {fmt(p.c)}"


# --------------------------------------------------------------------------- practice for judges


MISTAKES = {"none": 0.33, "leak": 0.19, "swap": 0.07, "operator": 0.07, "number": 0.07, "stray": 0.05,
            "shuffle": 0.08, "drop": 0.05, "cut": 0.03, "no answer": 0.06}
"""How ``practice_text`` rewrites a solver's answer, with the odds of each. ``leak``, a result
written where the expression that makes it belongs (``88 - (40 / 4)`` for ``88 - (40 / (61 -
57))``), is the policy's most common mistake; ``number`` puts a wrong number in one place and
``stray`` in several, as a policy does when its trace drifts off the given numbers; ``none``
leaves the answer right."""

_TREE_MISTAKES = ("leak", "swap", "operator", "number", "stray", "shuffle", "drop")


def practice_text(task, problem: Problem, rng: random.Random) -> str:
    """A solver's solution to ``problem`` whose answer is rewritten by one or two mistakes drawn
    from ``MISTAKES`` (or left alone, or dropped: the text then stops before its answer, as a
    policy's does when it runs out of room). Some rewrites are still right (``a + b`` swapped);
    the rule verifier, not the mistake, decides a practice text's label."""
    text = "".join(segment for segment, _ in task.trace(problem, "search", rng))
    body, _, answer = text.rstrip("\n").rpartition("\n")
    mistake = rng.choices(list(MISTAKES), weights=list(MISTAKES.values()))[0]
    if mistake == "no answer":
        return body[:rng.randint(len(body) // 2, len(body))]
    expr = answer.removeprefix(ANSWER_PREFIX).strip()
    if mistake == "cut":
        expr = expr[:rng.randint(1, max(1, len(expr) - 1))]
    elif mistake != "none":
        expr = mistaken(expr, mistake, problem, task.rational, rng)
    return f"{body}\n{ANSWER_PREFIX} {expr}\n"


def mistaken(expr: str, mistake: str, problem: Problem, rational: bool, rng: random.Random) -> str:
    """The answer ``expr`` with the tree mistake ``mistake`` made in it, and now and then one more."""
    tree = parse_expression(expr)
    more = [rng.choice(_TREE_MISTAKES) for _ in range(rng.choice((0, 0, 1)))]
    for kind in [mistake] + more:
        tree = _mistake(tree, kind, problem.numbers, problem.target, rational, rng)
    return _write(tree)


STEP_SLIPS = ("result", "target", "phantom", "left")
"""How ``slip`` gets a direct step wrong: a wrong result, the target claimed as the result, an
operand that is not among the numbers left (a number used twice, one from the problem already
spent, or one made up), the right arithmetic with the numbers left miswritten."""


def slip(line: str, problem: Problem, rational: bool, rng: random.Random) -> str | None:
    """A legal line of a direct trace (a step, or the answer) rewritten the way a policy gets one
    wrong: an answer by one of ``practice_text``'s mistakes in its expression, a step by one of
    ``STEP_SLIPS``. None for a line it cannot read. The result may happen to be right: the rule
    verifier, not the slip, decides its label."""
    if line.startswith(ANSWER_PREFIX):
        expr = line.removeprefix(ANSWER_PREFIX).strip()
        return f"{ANSWER_PREFIX} {mistaken(expr, rng.choice(_TREE_MISTAKES), problem, rational, rng)}"
    p = parse_step(line)
    if p is None or not p.is_step or p.left is None:
        return None
    left = list(p.left)
    left.remove(p.c)
    a, b, c = p.a, p.b, p.c
    kind = rng.choice(STEP_SLIPS)
    if kind == "result":
        c = c + rng.choice((-3, -2, -1, 1, 2, 3, 4))
        c = c if c >= 0 else p.c + 1
    elif kind == "target":
        c = problem.target if c != problem.target else c + 1
    elif kind == "phantom":
        first = rng.random() < 0.5  # which operand is replaced
        spent = [n for n in problem.numbers if n not in (a, b, *left)]
        phantom = rng.choice(spent + [b if first else a, rng.randint(1, 13)])
        a, b = (phantom, b) if first else (a, phantom)
        c = apply(a, p.op, b, rational)
        if c is None:
            return None
    else:  # left
        if left and rng.random() < 0.5:
            left.pop(rng.randrange(len(left)))
        else:
            left.append(rng.choice((a, b)))
    return f"{fmt(a)} {p.op} {fmt(b)} = {fmt(c)} | {fmt_state(left + [c])}"


def _write(tree, top: bool = True) -> str:
    if isinstance(tree, int):
        return str(tree)
    op, a, b = tree
    text = f"{_write(a, False)} {op} {_write(b, False)}"
    return text if top else f"({text})"


def _nodes(tree, path=()):
    """(path, subtree) for every operation in ``tree``, the root first."""
    if isinstance(tree, int):
        return []
    return [(path, tree)] + _nodes(tree[1], path + (1,)) + _nodes(tree[2], path + (2,))


def _leaves(tree, path=()):
    return [(path, tree)] if isinstance(tree, int) else _leaves(tree[1], path + (1,)) + _leaves(tree[2], path + (2,))


def _replace(tree, path, new):
    if not path:
        return new
    parts = list(tree)
    parts[path[0]] = _replace(tree[path[0]], path[1:], new)
    return tuple(parts)


def _value(tree, rational: bool):
    if isinstance(tree, int):
        return tree
    a, b = _value(tree[1], rational), _value(tree[2], rational)
    return None if a is None or b is None else apply(a, tree[0], b, rational)


def _mistake(tree, mistake: str, numbers, target, rational: bool, rng: random.Random):
    """``tree`` with one ``mistake`` made in it (unchanged when the mistake has nowhere to go)."""
    nodes = _nodes(tree)
    if mistake == "leak" and len(nodes) > 1:
        path, sub = rng.choice(nodes[1:])
        value = _value(sub, rational)
        if value is not None and value == int(value) and 0 <= value <= 1000:
            return _replace(tree, path, int(value))
    if mistake == "swap" and nodes:
        path, (op, a, b) = rng.choice(nodes)
        return _replace(tree, path, (op, b, a))
    if mistake == "operator" and nodes:
        path, (op, a, b) = rng.choice(nodes)
        return _replace(tree, path, (rng.choice([o for o in "+-*/" if o != op]), a, b))
    if mistake == "number":
        path, leaf = rng.choice(_leaves(tree))
        others = [n for n in numbers if n != leaf] or [leaf + 1]
        return _replace(tree, path, rng.choice(others + [rng.randint(1, 99), int(target)]))
    if mistake == "stray":
        leaves = _leaves(tree)
        for path, _ in rng.sample(leaves, rng.randint(2, len(leaves)) if len(leaves) > 1 else 1):
            tree = _replace(tree, path, rng.choice([n for n in range(1, 100) if n not in numbers]))
        return tree
    if mistake == "shuffle":
        parts = [int(n) for n in numbers]
        rng.shuffle(parts)
        while len(parts) > 1:
            i = rng.randrange(len(parts) - 1)
            parts[i:i + 2] = [(rng.choice("+-*/"), parts[i], parts[i + 1])]
        return parts[0]
    if mistake == "drop" and nodes:
        path, (op, a, b) = rng.choice(nodes)
        return _replace(tree, path, rng.choice((a, b)))
    return tree
