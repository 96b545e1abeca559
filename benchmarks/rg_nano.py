"""The nano policy on reasoning-gym's own Countdown and 24-game problems, graded by reasoning-gym.

A benchmark ponder did not write: the problems are reasoning-gym's (its generators, its seeds,
``--task rg:NAME``'s ``test`` split), and an answer counts when reasoning-gym's verifier scores it
1.0. The nano policy never read reasoning-gym's prose prompts, so each problem's numbers and target
(from the entry reasoning-gym generated) are put to it in ponder's own prompt; its answer, as
ponder's task reads it from the completion, goes to reasoning-gym's ``score_answer`` with the entry.
ponder's own verifier judges the same answers too: the two verdicts are compared.

    python benchmarks/rg_nano.py                          # 500 problems a row, greedy
    python benchmarks/rg_nano.py --limit 100 --effort high --model nano-v2

Rows: countdown with 3 and with 4 numbers at reasoning-gym's default ranges (numbers 1-100,
targets 100-999, beyond the targets 10-100 nano trained on), the same with targets 10-100, and
puzzle24 (four numbers 1-10, target 24).
"""

from __future__ import annotations

import argparse

from ponder.backends import load_policy
from ponder.backends.nano import DEFAULT_MODEL
from ponder.evaluate import evaluate
from ponder.rewards import get_reward
from ponder.rewards.metrics import wilson
from ponder.search.base import trace_styles
from ponder.search.request import StrategyRequest
from ponder.tasks import get_task
from ponder.types import Problem

ROWS = [  # (label, reasoning-gym dataset and options, ponder's task for the prompt)
    ("countdown, 3 numbers", "countdown", {"min_numbers": 3, "max_numbers": 3}, "countdown-3"),
    ("countdown, 4 numbers", "countdown", {"min_numbers": 4, "max_numbers": 4}, "countdown"),
    ("countdown, 3 numbers, targets 10-100", "countdown",
     {"min_numbers": 3, "max_numbers": 3, "min_target": 10, "max_target": 100}, "countdown-3"),
    ("countdown, 4 numbers, targets 10-100", "countdown",
     {"min_numbers": 4, "max_numbers": 4, "min_target": 10, "max_target": 100}, "countdown"),
    ("puzzle24", "puzzle24", {}, "game24"),
]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--limit", type=int, default=500, help="problems a row (default: 500)")
    p.add_argument("--effort", choices=["low", "high"], default="low",
                   help="low: greedy; high: what --effort high runs on the task (default: low)")
    args = p.parse_args(argv)
    policy = load_policy(args.model)
    print(f"{args.model}, effort {args.effort}; reasoning-gym's test split, --task rg:NAME's seeds\n")
    print(f"{'problems':40} {'n':>4} {'reasoning-gym':>14} {'95% interval':>14} {'ponder':>7} {'disagree':>8} {'tokens':>7}")
    for label, dataset, options, ponder_task in ROWS:
        rg = get_task(f"rg:{dataset}").with_options(options)
        ours = get_task(ponder_task)
        problems = rg.problems("test", args.limit)
        entries = [rg.entry(q) for q in problems]
        # as they are: reasoning-gym's numbers reach 100, one past what ponder's countdown generates
        own = [Problem(q.id, ours.name, tuple(e["metadata"]["numbers"]), e["metadata"].get("target", 24))
               for q, (_, e) in zip(problems, entries)]
        plan = StrategyRequest(effort=args.effort).plan(task=ponder_task, styles=trace_styles(policy))
        reward = get_reward(plan.reward, ours) if plan.reward else None
        report = evaluate(ours, own, policy, plan.strategy, reward, budget=plan.budget, progress=True)
        graded = [seeded.score_answer(r["answer"], e) >= 1.0 if r["answer"] is not None else False
                  for r, (seeded, e) in zip(report.records, entries)]
        k, n = sum(graded), len(graded)
        lo, hi = wilson(k, n)
        disagree = sum(g != r["correct"] for g, r in zip(graded, report.records))
        print(f"{label:40} {n:>4} {k / n:>13.1%} {f'{lo:.1%}-{hi:.1%}':>14} {report.accuracy:>6.1%} {disagree:>8} "
              f"{report.tokens_per_problem:>7.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
