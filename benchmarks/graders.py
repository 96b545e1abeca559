"""ponder's grader against math-verify on the hand-labelled answer pairs of tests/test_math.py:
which is right on each pair, and how long each takes.

    python benchmarks/graders.py

Three graders, each asked both ways round (a pair counts as right when both verdicts match its
label): ponder's own rules alone; math-verify alone, as the field calls it (``parse`` each answer
in ``$...$``, ``verify``, its default timeouts, so run this on the main thread); and ``--task
math``'s grader, ``ponder.tasks.math.equivalent`` (ponder's rules, then bounded math-verify).
Timings are per pair (two verdicts), on whatever else the machine is doing: compare them as ratios.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from ponder.tasks import math as ponder_math

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_math import EQUIVALENCE, FURTHER, IMAGINARY  # noqa: E402


def rules_only(a, b) -> bool:
    """ponder's rules without the math-verify fallback."""
    return ponder_math.equivalent(a, b, math_verify=False)


def math_verify_only(a, b) -> bool:
    from math_verify import parse, verify

    if a is None or b is None:
        return False
    gold, pred = parse(f"${a}$"), parse(f"${b}$")
    return bool(gold) and bool(pred) and verify(gold, pred)


GRADERS = {"ponder's rules": rules_only, "math-verify": math_verify_only, "--task math": ponder_math.equivalent}


def main() -> int:
    logging.disable(logging.WARNING)
    math_verify_only("1", "1")  # imports outside the timings
    tables = {"the 136 pairs": EQUIVALENCE, "the 31 further pairs": FURTHER + IMAGINARY}
    wrong: dict[tuple, dict[str, tuple]] = {}
    print(f"{'grader':16} {'pairs':22} {'right':>7} {'median ms':>10} {'slowest ms':>11}  slowest pair")
    for grader, grade in GRADERS.items():
        for table, pairs in tables.items():
            right, seconds = 0, []
            for a, b, label in pairs:
                start = time.perf_counter()
                verdicts = (grade(a, b), grade(b, a))
                seconds.append((time.perf_counter() - start, (a, b)))
                right += verdicts == (label, label)
                if verdicts != (label, label):
                    wrong.setdefault((a, b, label), {})[grader] = verdicts
            ordered = sorted(seconds, key=lambda s: s[0])
            slowest, pair = ordered[-1]
            print(f"{grader:16} {table:22} {right:>3}/{len(pairs):<3} {ordered[len(ordered) // 2][0] * 1e3:>10.1f} "
                  f"{slowest * 1e3:>11.0f}  {str(pair)[:50]}")
    print("\npairs some grader gets wrong (its verdicts a~b, b~a):")
    for (a, b, label), by in wrong.items():
        print(f"  {str(a)[:40]!r:44} {str(b)[:30]!r:34} label {label!s:5}  "
              + ", ".join(f"{g}: {v[0]!s}/{v[1]!s}" for g, v in by.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
