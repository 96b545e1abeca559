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

The package: ``rules`` (the arithmetic and the exhaustive solver), ``notation`` (writing and
reading steps and answers), ``checker`` (per-line labels), ``outcomes`` (the exact prefix
oracle) and ``task`` (``CountdownTask``, which uses them all). What other code imports is
re-exported here.
"""

from ponder.tasks.base import StepCheck
from ponder.tasks.countdown.checker import check_steps
from ponder.tasks.countdown.notation import (
    DEAD_END, FRACTION_BAR, MAKES, PROMPT_ARROW, ParsedStep, evaluate_expression, expression, fmt, fmt_state,
    parse_expression, parse_step, parse_value, parse_values, solution_path, step_line,
)
from ponder.tasks.countdown.outcomes import prefix_outcomes
from ponder.tasks.countdown.rules import (
    OPS, Move, Value, after, apply, apply_written, moves, pair_results, solvable, solve,
)
from ponder.tasks.countdown.task import CountdownTask

__all__ = [
    "DEAD_END", "FRACTION_BAR", "MAKES", "OPS", "PROMPT_ARROW", "CountdownTask", "Move", "ParsedStep", "StepCheck",
    "Value", "after", "apply", "apply_written", "check_steps", "evaluate_expression", "expression", "fmt", "fmt_state",
    "pair_results", "parse_expression", "parse_step", "parse_value", "parse_values", "prefix_outcomes", "solution_path",
    "solvable", "solve", "step_line",
]
