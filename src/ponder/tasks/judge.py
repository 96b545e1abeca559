"""What a verifier should say about a Countdown or Game of 24 solution, written from the rules.

These texts are the training targets of ponder's generative judges (``ponder.rewards``):

* ``rationale``: GenRM-CoT's verification, redoing the answer's arithmetic one operation per
  line and comparing the result with the target (``25 * 3 = 75`` / ``75 - 9 = 66`` /
  ``66 is the target``), then the verdict.
* ``critique``: the text critic's, naming the first line that is wrong (bad arithmetic, a pair
  misjudged, a solvable state given up) or after which no solution is left, and why, then the
  verdict. A reviser can act on it: it quotes the line and says what is true instead.

The judges learn to write these from the policy's own solutions; at test time they write them
without the rules, and only their verdicts are used.
"""

from __future__ import annotations

from ponder.tasks.countdown import (
    DEAD_END, check_steps, evaluate_expression, fmt, fmt_state, parse_step, prefix_outcomes,
)
from ponder.types import Problem

YES, NO = "Yes", "No"
VERIFY, CHECK, CRITIQUE, VERDICT = "verify:", "check:", "critique:", "verdict:"
WORDS = (YES, NO, VERIFY, CHECK, CRITIQUE, VERDICT, "is", "not", "the", "target", "given", "used", "twice",
         "breaks", "rules", "no", "answer", "mistake", "can", "reach", "make", "left", "wrong", "numbers",
         "nothing", "aims", "at", "gave", "up", "a", "solvable", "state", "step", "of", "this", "problem",
         "way", "to", "malformed", "before", "ran", "out", "room", "available")
"""Words the judges write; a judge's tokenizer gets them as whole tokens (``Tokenizer.extended``)."""


def rationale(task, problem: Problem, text: str) -> tuple[str, bool]:
    """GenRM-CoT's verification of the answer in ``text``: (lines, verdict)."""
    answer = task.answer(text)
    if answer is None:
        return "no answer", False
    trace: list = []
    try:
        value = evaluate_expression(answer, problem.numbers, task.rational, trace)
    except (ValueError, ZeroDivisionError, RecursionError) as e:
        done = [f"{fmt(a)} {op} {fmt(b)} = {fmt(c)}" for a, op, b, c in trace]
        return "\n".join(done + [_why(str(e))]), False
    lines = [f"{fmt(a)} {op} {fmt(b)} = {fmt(c)}" for a, op, b, c in trace]
    if value == problem.target:
        return "\n".join(lines + [f"{fmt(value)} is the target"]), True
    return "\n".join(lines + [f"{fmt(value)} is not the target {fmt(problem.target)}"]), False


def _why(message: str) -> str:
    if "is not one of the given numbers" in message:
        return f"{message.split()[0]} is not given"
    if message.startswith("not all numbers used"):
        return f"{message.split(':')[1].strip().removesuffix(' left')} not used"
    if "breaks the rules" in message:
        return message
    return "malformed answer"


def critique(task, problem: Problem, text: str) -> tuple[str, bool]:
    """The text critic's judgement of ``text``: (critique, verdict)."""
    correct = task.verify(problem, text) == 1.0
    lines = task.steps(text)
    checks = check_steps(problem, lines, task.rational, task.cap)
    outcomes = prefix_outcomes(problem, lines, task.rational, task.cap)
    target = fmt(problem.target)
    for line, chk, alive in zip(lines, checks, outcomes):
        if not chk.valid:
            return f"{_quote(line)}\n{chk.reason}", correct
        if chk.reason:  # a give-up the checker marks as wrong
            return f"{_quote(line)}\n{chk.reason}", correct
        if not alive:
            p = parse_step(line)
            if p is not None and p.is_step and p.dead and p.left and chk.solvable:
                why = f"{fmt_state(p.left)} can reach {target}"
            else:
                why = f"no way to {target} is left"
            return f"{_quote(line)}\n{why}", correct
    if correct:
        return "no mistake", True
    if task.answer(text) is None:
        return "ran out of room before an answer", False
    why, _ = rationale(task, problem, text)
    return why.split("\n")[-1], False


def _quote(line: str) -> str:
    """The part of a line that identifies it: its state and step, without the listed results."""
    p = parse_step(line)
    if p is None:
        return line.strip()[:40]
    if not p.is_step:
        return f"{fmt_state(p.state)} {DEAD_END}"
    head = f"{fmt_state(p.state)} : " if p.state is not None else ""
    return f"{head}{fmt(p.a)} {p.op} {fmt(p.b)} = {fmt(p.c)}"
